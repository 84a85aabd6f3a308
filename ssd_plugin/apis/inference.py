"""Detect objects in images with mmdet's ``DetInferencer``: the tool layer of
``tools/infer.py`` and of the demo's drawing step (``tools/demo.py``).

Writes ``OUT_DIR/vis/<image name>`` (boxes with a score of at least
``score_thr`` drawn) and ``OUT_DIR/detections.json``: one entry per image
with ``bboxes`` (x1, y1, x2, y2 in input-image pixels), ``scores``,
``labels`` and ``class_names``, sorted by score. The inferencer is mmdet's own
``DetInferencer``, in the config's default scope. Each image is first read by the
plugin's loader, so a missing, empty, truncated or undecodable file is named and
skipped (listed under ``skipped`` in the JSON) while the others are detected.
"""

import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

from ssd_plugin.datasets.transforms import ImageLoadError, SafeLoadImageFromFile

from .check_run import check_run
from .run_check_error import RunCheckError
from .tool_config import load_tool_config, set_model_files
from .weights import check_checkpoint_file_fits

# The longest side of a drawn image (the detections keep the original pixels).
MAX_DRAW_SIDE = 2048

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


def readable_images(images: List[str]) -> Tuple[List[str], List[Dict[str, str]]]:
    """Split ``images`` into those the plugin's loader reads and those it cannot.

    mmdet's ``InferencerLoader`` would decode a truncated JPEG with its missing
    part grey and abort the whole run on an undecodable file; here each file is
    read once first, and a bad one is named with its reason instead.

    Returns:
        The readable paths, and ``dict(image=path, error=reason)`` for each other.
    """
    loader = SafeLoadImageFromFile()
    readable, skipped = [], []
    for path in images:
        try:
            loader(dict(img_path=path))
        except ImageLoadError as err:
            skipped.append(dict(image=path, error=str(err)))
            print(f'skipped: {err}')
        else:
            readable.append(path)
    return readable, skipped


def draw_detections(visualizer, image: str, sample, out_file: str, score_thr: float) -> None:
    """Draw ``sample``'s detections on ``image`` into ``out_file``, at most
    :data:`MAX_DRAW_SIDE` px a side.

    mmdet's ``DetInferencer`` draws at the image's full size, which for a
    10000 x 10000 px image asks for ~5 GB; larger images are scaled down for the
    picture only (``detections.json`` keeps the original pixels).
    """
    import mmcv

    img = mmcv.imread(image, channel_order='rgb')
    scale = min(1.0, MAX_DRAW_SIDE / max(img.shape[:2]))
    if scale < 1.0:
        img = mmcv.imrescale(img, scale)
        instances = sample.pred_instances.clone()  # the caller's boxes stay as they are
        instances.bboxes = instances.bboxes * scale
        sample = sample.clone()
        sample.pred_instances = instances
    os.makedirs(osp.dirname(out_file), exist_ok=True)
    visualizer.add_datasample(
        osp.basename(image),
        img,
        data_sample=sample,
        draw_gt=False,
        show=False,
        pred_score_thr=score_thr,
        out_file=out_file,
    )


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

    Raises:
        RunCheckError: when an input, the config or the checkpoint is missing,
            or no image can be read (each unreadable one is named).
    """
    images, skipped = readable_images(list_images(inputs))
    if not images:
        raise RunCheckError(
            f'No readable image in {inputs}:\n' + '\n'.join(f'  - {s["error"]}' for s in skipped)
        )
    cfg = load_tool_config(config, cfg_options=cfg_options)
    check_run(cfg, config, 'infer', set_model_files(cfg, backend, checkpoint, onnx_file, config))
    if cfg.get('visualizer') is None:
        cfg.visualizer = dict(type='mmdet.DetLocalVisualizer', name='visualizer')
    cfg.visualizer['vis_backends'] = None  # the images are drawn below, with no save_dir
    from mmdet.apis import DetInferencer

    inferencer = DetInferencer(
        model=cfg,
        weights=checkpoint if backend == 'pytorch' else None,
        device=device,
        scope=cfg.default_scope,
        show_progress=False,
    )
    if backend == 'pytorch':  # DetInferencer loads any checkpoint with warnings only
        check_checkpoint_file_fits(inferencer.model, checkpoint, config)
    if backend == 'onnxruntime':  # DetInferencer gave it COCO's names, having no weights
        inferencer.model.dataset_meta = inferencer.visualizer.dataset_meta = dict(
            classes=tuple(inferencer.model.meta.get('classes') or ())
        )
    classes = list(inferencer.model.dataset_meta.get('classes', ()))
    results = inferencer(
        images,
        batch_size=batch_size,
        pred_score_thr=score_thr,
        no_save_vis=True,  # drawn below, at a bounded size
        no_save_pred=True,
        return_datasamples=True,
    )
    records = []
    for path, sample in zip(images, results['predictions']):
        vis = osp.join(out_dir, 'vis', osp.basename(path))
        draw_detections(inferencer.visualizer, path, sample, vis, score_thr)
        pred = sample.pred_instances
        prediction = dict(
            bboxes=pred.bboxes.tolist(), scores=pred.scores.tolist(), labels=pred.labels.tolist()
        )
        record = dict(image=path, vis=vis)
        record.update(detections(prediction, classes, score_thr))
        records.append(record)
    os.makedirs(out_dir, exist_ok=True)
    json_path = osp.join(out_dir, 'detections.json')
    with open(json_path, 'w') as f:
        json.dump(
            dict(score_thr=score_thr, classes=classes, images=records, skipped=skipped), f, indent=1
        )
    total = sum(len(r['labels']) for r in records)
    print(
        f'{total} detections (score >= {score_thr}) in {len(records)} images; '
        f'drawn images in {osp.join(out_dir, "vis")}, detections in {json_path}'
        + (f'; {len(skipped)} unreadable images skipped (listed there)' if skipped else '')
    )
    return json_path
