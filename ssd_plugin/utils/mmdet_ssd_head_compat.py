"""Let mmdet 3.3.0's own ``SSDHead`` predict (the baselines, head-swap configs).

``BaseDenseHead._predict_by_feat_single`` reads ``self.loss_cls`` (to apply a
loss's custom activation), and mmdet 3.3.0's ``SSDHead`` never sets it, so any
prediction with it (validation, ``tools/test.py``, ``DetInferencer``, sahi)
stops with ``AttributeError: 'SSDHead' object has no attribute 'loss_cls'``.

:func:`apply` gives the class the attribute ``loss_cls = None``: the activation
check then falls through to the softmax SSD uses, which is what the method was
meant to do. Nothing else of the class changes, and where mmdet sets the
attribute itself (a fixed release), :func:`apply` does nothing.
"""

from mmdet.models.dense_heads import SSDHead

__all__ = ['apply', 'needs_patch']


def needs_patch() -> bool:
    """Whether mmdet's ``SSDHead`` lacks ``loss_cls`` (its ``__init__`` never sets it)."""
    import inspect

    return not hasattr(SSDHead, 'loss_cls') and 'self.loss_cls' not in inspect.getsource(
        SSDHead.__init__
    )


def apply() -> None:
    """Set ``SSDHead.loss_cls = None`` on mmdet's class where it is missing."""
    if needs_patch():
        SSDHead.loss_cls = None
