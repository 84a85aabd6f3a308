"""Detect objects in images with mmdet's ``DetInferencer``: the tool layer of
``tools/infer.py`` and of the demo's drawing step (``tools/demo.py``).

Writes ``OUT_DIR/vis/<image name>`` (boxes with a score of at least
``score_thr`` drawn) and ``OUT_DIR/detections.json``: one entry per image
with ``bboxes`` (x1, y1, x2, y2 in input-image pixels), ``scores``,
``labels`` and ``class_names``, sorted by score. The inferencer runs in the
config's default scope (``ssd_plugin``) and reads images with the config's own
loader (:class:`~ssd_plugin.apis.safe_det_inferencer.SafeDetInferencer`).
"""

import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from ssd_plugin.apis.check_run import check_run
from ssd_plugin.apis.run_check_error import RunCheckError
from ssd_plugin.apis.tool_config import load_tool_config
from ssd_plugin.engine import patch_mmdet_ssd_head

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def list_images(inputs: str) -> List[str]:
    """The image files named by ``inputs`` (a file or a folder), sorted.

    Raises:
        RunCheckError: when there are none.
    """
    if osp.isdir(inputs):
        images = sorted(
            osp.join(inputs, name)
            for name in os.listdir(inputs)
            if name.lower().endswith(IMG_EXTENSIONS)
        )
        if not images:
            raise RunCheckError(f'No images ({", ".join(IMG_EXTENSIONS)}) in folder {inputs}')
        return images
    if not osp.isfile(inputs):
        raise RunCheckError(f'Input not found: {inputs} (resolved: {osp.abspath(inputs)})')
    return [inputs]


def load_inference_config(
    config: str,
    checkpoint: Optional[str],
    cfg_options: Optional[Dict] = None,
    backend: str = 'pytorch',
    onnx_file: Optional[str] = None,
) -> Config:
    """The config file ``config``, with ``cfg_options`` merged, ready for ``DetInferencer``.

    Raises:
        RunCheckError: when the config or checkpoint is missing.
    """
    cfg = load_tool_config(config, cfg_options=cfg_options)
    from .onnxruntime_detector import configure_backend

    files = configure_backend(cfg, backend, checkpoint, onnx_file, config)
    check_run(cfg, config, 'infer', checkpoints=files)
    if cfg.get('visualizer') is None:
        cfg.visualizer = dict(type='mmdet.DetLocalVisualizer', name='visualizer')
    # DetInferencer writes the drawn images itself; backends would want a save_dir.
    cfg.visualizer['vis_backends'] = None
    return cfg


def detections(prediction: Dict, classes: List[str], score_thr: float) -> Dict:
    """The kept detections of one image, highest score first."""
    keep = [i for i, s in enumerate(prediction['scores']) if s >= score_thr]
    keep.sort(key=lambda i: -prediction['scores'][i])
    labels = [int(prediction['labels'][i]) for i in keep]
    return dict(
        bboxes=[[round(float(v), 2) for v in prediction['bboxes'][i]] for i in keep],
        scores=[round(float(prediction['scores'][i]), 4) for i in keep],
        labels=labels,
        class_names=[classes[label] if label < len(classes) else str(label) for label in labels],
    )


def _predict_skipping_unreadable(
    inferencer, images: List[str], batch_size: int, kwargs: Dict
) -> Tuple[List[Optional[Dict]], List[Tuple[str, str]]]:
    """Predictions of ``images`` (None for an unreadable one) and ``(path, error)``
    of those skipped.

    Batches go through the inferencer as one call each; a batch with an image
    that cannot be read (``OSError``: ``ImageLoadError`` of the config's
    loader) is run again image by image, so that one bad file costs only
    itself.
    """
    predictions: List[Optional[Dict]] = []
    skipped: List[Tuple[str, str]] = []

    def run(chunk: List[str]) -> List[Dict]:
        out = inferencer(chunk, batch_size=batch_size, no_save_pred=True, **kwargs)
        return out['predictions']

    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        try:
            predictions += run(chunk)
            continue
        except OSError:
            pass
        for image in chunk:
            try:
                predictions += run([image])
            except OSError as err:
                skipped.append((image, str(err)))
                predictions.append(None)
    return predictions, skipped


def infer_images(
    inputs: str,
    config: str,
    checkpoint: str,
    out_dir: str = 'outputs/infer',
    score_thr: float = 0.3,
    device: str = 'cpu',
    batch_size: int = 1,
    cfg_options: Optional[Dict] = None,
    backend: str = 'pytorch',
    onnx_file: Optional[str] = None,
) -> str:
    """Detect objects in ``inputs`` (an image or a folder), draw them and write their JSON.

    Args:
        inputs: An image file or a folder of images.
        config: The model's config file.
        checkpoint: The checkpoint file.
        out_dir: Where ``vis/`` and ``detections.json`` go.
        score_thr: Least score kept (drawn and written).
        device: E.g. ``'cpu'`` or ``'cuda:0'``.
        batch_size: Images per forward pass.
        cfg_options: Settings merged into the config.
        backend: ``'pytorch'`` or ``'onnxruntime'`` (then ``onnx_file``).
        onnx_file: Run this ``tools/export_onnx.py`` file under ONNX Runtime
            (:class:`~ssd_plugin.apis.onnxruntime_detector.OnnxRuntimeDetector`)
            instead of ``checkpoint`` (then None).

    Returns:
        The path of ``detections.json``.

    An image the config's loader cannot read (``SafeLoadImageFromFile``
    names the file and why) is skipped with a warning and listed under
    ``skipped`` in the JSON; the others are written.

    Raises:
        RunCheckError: when an input, the config or the checkpoint is
            missing, the checkpoint does not fit the model, or no image
            could be read.
    """
    images = list_images(inputs)
    cfg = load_inference_config(config, checkpoint, cfg_options, backend, onnx_file)
    from .safe_det_inferencer import SafeDetInferencer

    inferencer = SafeDetInferencer(
        model=cfg,
        weights=checkpoint if backend == 'pytorch' else None,
        device=device,
        scope=cfg.default_scope,
        show_progress=False,
    )
    note = patch_mmdet_ssd_head(inferencer.model)  # a baseline config's mmdet SSDHead
    if note:
        print(note)
    if backend == 'onnxruntime':  # DetInferencer gave it COCO's names, having no weights
        inferencer.model.dataset_meta = inferencer.visualizer.dataset_meta = dict(
            classes=tuple(inferencer.model.meta.get('classes') or ())
        )
    classes = list(inferencer.model.dataset_meta.get('classes', ()))
    predictions, skipped = _predict_skipping_unreadable(
        inferencer, images, batch_size, dict(out_dir=out_dir, pred_score_thr=score_thr)
    )
    records = []
    for path, prediction in zip(images, predictions):
        if prediction is None:
            continue
        record = dict(image=path, vis=osp.join(out_dir, 'vis', osp.basename(path)))
        record.update(detections(prediction, classes, score_thr))
        records.append(record)
    if not records:
        raise RunCheckError(
            'No image could be read:\n' + '\n'.join(f'  - {err}' for _, err in skipped)
        )
    os.makedirs(out_dir, exist_ok=True)
    json_path = osp.join(out_dir, 'detections.json')
    with open(json_path, 'w') as f:
        document = dict(score_thr=score_thr, classes=classes, images=records)
        document['skipped'] = [dict(image=path, error=err) for path, err in skipped]
        json.dump(document, f, indent=1)
    for _, err in skipped:
        print(f'warning: skipped: {err}', file=sys.stderr)
    skip_note = f' ({len(skipped)} unreadable, skipped: see the JSON)' if skipped else ''
    total = sum(len(r['labels']) for r in records)
    print(
        f'{total} detections (score >= {score_thr}) in {len(records)} images{skip_note}; '
        f'drawn images in {osp.join(out_dir, "vis")}, detections in {json_path}'
    )
    return json_path
