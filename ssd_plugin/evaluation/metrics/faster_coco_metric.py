"""mmdet's ``CocoMetric`` evaluated by faster-coco-eval instead of pycocotools."""

import contextlib
import functools
from typing import Iterator

from mmdet.evaluation.metrics import CocoMetric
from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric

from ssd_plugin.registry import METRICS

__all__ = ['FasterCocoMetric']


@METRICS.register_module()
class FasterCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric``, with faster-coco-eval's ``COCOeval_faster``.

    faster-coco-eval (``pip install faster-coco-eval``) computes COCO's
    evaluation in C++: the same 12 statistics as pycocotools (the test suite
    checks them equal on the demo's val set), in less time
    (docs/benchmarks.md). Everything else is mmdet's ``CocoMetric``: the
    arguments, the ground truth (mmdet's pycocotools-based ``COCO``), the
    logged table and the metric names (``coco/bbox_mAP`` ...), so a config
    switches by its ``type`` alone::

        val_evaluator = dict(type='ssd_plugin.FasterCocoMetric', ann_file=..., metric='bbox')

    Args:
        *args: mmdet's ``CocoMetric`` arguments, except ``use_mp_eval``.
        **kwargs: As ``*args``.

    Raises:
        ImportError: faster-coco-eval is not installed (the message says how).
        ValueError: with ``use_mp_eval=True`` (mmdet's multi-process
            pycocotools; this metric replaces it).
    """

    def __init__(self, *args, **kwargs) -> None:
        try:
            from faster_coco_eval import COCOeval_faster
        except ImportError:
            raise ImportError(
                'FasterCocoMetric needs faster-coco-eval: pip install faster-coco-eval '
                "(or pip install 'ssd_plugin[eval]'); mmdet's CocoMetric needs nothing more"
            ) from None
        if kwargs.get('use_mp_eval'):
            raise ValueError(
                'FasterCocoMetric: use_mp_eval=True is pycocotools in several processes; '
                "faster-coco-eval replaces it. Drop use_mp_eval, or use mmdet's CocoMetric"
            )
        super().__init__(*args, **kwargs)
        # pycocotools prints the summary table; faster-coco-eval logs it at INFO on a
        # logger that shows WARNING only, so it is printed here as mmdet users expect.
        self._coco_eval = functools.partial(COCOeval_faster, print_function=print)

    def compute_metrics(self, results: list) -> dict:
        """mmdet's ``compute_metrics``, with ``COCOeval_faster`` as its ``COCOeval``."""
        with self._coco_eval_class():
            return super().compute_metrics(results)

    @contextlib.contextmanager
    def _coco_eval_class(self) -> Iterator[None]:
        # mmdet's compute_metrics reads the module global `COCOeval` at the call, and
        # offers no argument for it: the global is swapped for this call only
        # (docs/architecture.md, "Patches").
        original = mmdet_coco_metric.COCOeval
        mmdet_coco_metric.COCOeval = self._coco_eval
        try:
            yield
        finally:
            mmdet_coco_metric.COCOeval = original
