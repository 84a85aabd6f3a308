"""Parse and check ``SSDHead``'s ``train_cfg`` and ``test_cfg``.

The head's loss assigns and mines the whole batch at once, so it needs a
batched assigner (``batch_assign``) and a batched sampler (``batch_sample``).
mmdet's SSD configs name mmdet's per-image ``MaxIoUAssigner`` and
``PseudoSampler``; both are mapped here onto the plugin's batched classes with
the same semantics, and anything that cannot be mapped is refused at build
time with the reason. Unknown keys are refused with a "did you mean".

Mapping rules (also in ``docs/mmdet_compatibility.md``):

* ``assigner``: ``SSDMaxIoUAssigner`` (or any class with ``batch_assign``) is
  built as given. mmdet's ``MaxIoUAssigner`` (exactly that class) becomes
  ``SSDMaxIoUAssigner`` with the same arguments and mmdet's defaults
  (``gt_max_assign_all=True`` when absent); ``perm_repeat_gt_cfg`` cannot be
  mapped. Any other assigner is refused. Absent: ``SSDMaxIoUAssigner()``
  (IoU 0.5, the paper's threshold).
* ``sampler``: ``SSDPseudoSampler`` (or any class with ``batch_sample``) is
  built as given. mmdet's ``PseudoSampler`` becomes
  ``SSDPseudoSampler(neg_pos_ratio=train_cfg.neg_pos_ratio)`` (3 if absent),
  which is what mmdet's ``SSDHead`` does inside its loss; this is logged once.
  Any other sampler (``RandomSampler``, ``OHEMSampler`` ...) is refused: mmdet's
  ``SSDHead`` would ignore it too. Absent: ``SSDPseudoSampler`` as above.
* ``neg_pos_ratio``, ``smoothl1_beta``: SSD's 3:1 ratio and the Smooth-L1
  beta (defaults 3 and 1.0; the beta is unused, and that logged once, when the
  head has a ``loss_bbox``). ``allowed_border`` (negative only: every default
  box is kept), ``pos_weight`` (``<= 0`` or 1: weight 1) and ``debug`` (no
  effect, as in mmdet) are accepted for mmdet's configs.
"""

from typing import Any, Mapping, Optional, Tuple

from mmdet.models.task_modules.assigners import MaxIoUAssigner
from mmdet.models.task_modules.samplers import PseudoSampler
from mmengine.logging import print_log

from ssd_plugin.models.layers.box_voting import check_box_voting
from ssd_plugin.models.task_modules.assigners import SSDMaxIoUAssigner
from ssd_plugin.models.task_modules.samplers import SSDPseudoSampler
from ssd_plugin.registry import TASK_UTILS
from ssd_plugin.utils.strict_args import check_keys

__all__ = ['TRAIN_CFG_KEYS', 'TEST_CFG_KEYS', 'build_train_parts', 'check_test_cfg']

# Every key mmdet's SSD configs (ssd300, ssd512, ssdlite) put in the head's cfgs.
TRAIN_CFG_KEYS = (
    'assigner',
    'sampler',
    'smoothl1_beta',
    'allowed_border',
    'pos_weight',
    'neg_pos_ratio',
    'debug',
)
TEST_CFG_KEYS = ('nms_pre', 'nms', 'min_bbox_size', 'score_thr', 'max_per_img', 'box_voting')
# Config metadata that mmengine may stamp on any dict.
_META_KEYS = ('_scope_',)

_logged: set = set()


def _log_once(message: str) -> None:
    """Log ``message`` at INFO the first time it is seen in this process."""
    if message not in _logged:
        _logged.add(message)
        print_log(message, logger='current')


def _resolve(cfg: Mapping, what: str) -> type:
    """The class a ``type=...`` config names, looked up from the plugin's scope."""
    if 'type' not in cfg:
        raise ValueError(f'SSDHead train_cfg.{what} needs a "type", got {dict(cfg)}')
    kind = cfg['type']
    if isinstance(kind, type):
        return kind
    cls = TASK_UTILS.get(kind)
    if cls is None:
        raise KeyError(
            f'SSDHead train_cfg.{what}: type {kind!r} is not registered in the ssd_plugin '
            f'scope or its parents (mmdet, mmengine)'
        )
    return cls


def _args(cfg: Mapping) -> dict:
    """Constructor arguments of a component config (``type``/``_scope_`` removed)."""
    return {k: v for k, v in cfg.items() if k not in ('type',) + _META_KEYS}


def _build_assigner(cfg: Optional[Mapping]) -> Any:
    if not cfg:
        return SSDMaxIoUAssigner()
    cls = _resolve(cfg, 'assigner')
    args = _args(cfg)
    if cls is MaxIoUAssigner:
        if args.get('perm_repeat_gt_cfg') is not None:
            raise ValueError(
                'SSDHead train_cfg.assigner: MaxIoUAssigner(perm_repeat_gt_cfg=...) cannot be '
                'mapped onto the batched SSDMaxIoUAssigner: the jitter of repeated boxes runs '
                'box by box with host-side retries, which the batched, sync-free loss cannot '
                'do. Drop perm_repeat_gt_cfg (no mmdet SSD config sets it).'
            )
        # Same assignment, batched; mmdet's default for the one default that differs.
        args.setdefault('gt_max_assign_all', True)
        try:
            assigner = SSDMaxIoUAssigner(**args)
        except TypeError as err:
            raise TypeError(f'SSDHead train_cfg.assigner (MaxIoUAssigner): {err}') from None
        _log_once(
            f'SSDHead: train_cfg.assigner MaxIoUAssigner runs as {assigner!r} '
            '(the same assignment, for the whole batch at once)'
        )
        return assigner
    return _build_batched(
        cls,
        cfg,
        'assigner',
        'batch_assign',
        'SSDHead assigns the whole batch at once and needs an assigner with '
        'batch_assign(priors, gt_bboxes, gt_labels, gt_valid, ...), such as SSDMaxIoUAssigner',
        " and cannot be mapped (only mmdet's MaxIoUAssigner is mapped onto SSDMaxIoUAssigner)",
    )


def _build_sampler(cfg: Optional[Mapping], neg_pos_ratio: Optional[float]) -> Any:
    ratio = 3 if neg_pos_ratio is None else neg_pos_ratio
    if not cfg:
        return SSDPseudoSampler(neg_pos_ratio=ratio)
    cls = _resolve(cfg, 'sampler')
    args = _args(cfg)
    if cls is PseudoSampler:
        # mmdet's PseudoSampler swallows any keyword; here only the ratio is read.
        check_keys(args, ('neg_pos_ratio',), 'SSDHead train_cfg.sampler (PseudoSampler)')
        if 'neg_pos_ratio' in args:
            _check_same_ratio(args['neg_pos_ratio'], neg_pos_ratio)
            ratio = args['neg_pos_ratio']
        sampler = SSDPseudoSampler(neg_pos_ratio=ratio)
        _log_once(
            f"SSDHead: train_cfg.sampler PseudoSampler is replaced by {sampler!r}: SSD's hard "
            f"negative mining (paper §2.2), which mmdet's SSDHead applies inside its loss "
            f'with train_cfg.neg_pos_ratio'
        )
        return sampler
    sampler = _build_batched(
        cls,
        cfg,
        'sampler',
        'batch_sample',
        'SSDHead mines hard negatives for the whole batch and needs a sampler with '
        'batch_sample(pos_mask, neg_mask, cls_loss), such as SSDPseudoSampler',
        '. Use dict(type="SSDPseudoSampler", neg_pos_ratio=3) or mmdet\'s PseudoSampler '
        "(mapped onto it); mmdet's own SSDHead ignores any other sampler as well",
    )
    if neg_pos_ratio is not None and hasattr(sampler, 'neg_pos_ratio'):
        _check_same_ratio(sampler.neg_pos_ratio, neg_pos_ratio)
    return sampler


def _build_batched(cls: type, cfg: Mapping, what: str, method: str, need: str, fix: str) -> Any:
    """Build ``cls`` from ``cfg`` if it has the batched ``method`` the head calls.

    Raises:
        TypeError: ``need`` (what the head needs), the class, and ``fix``.
    """
    if not callable(getattr(cls, method, None)):
        raise TypeError(
            f'{need}; train_cfg.{what} {cfg["type"]!r} ({cls.__module__}.{cls.__name__}) '
            f'has none{fix}'
        )
    return TASK_UTILS.build(dict(_args(cfg), type=cls))


def _check_same_ratio(sampler_ratio: Any, cfg_ratio: Optional[float]) -> None:
    if cfg_ratio is not None and sampler_ratio != cfg_ratio:
        raise ValueError(
            f'SSDHead: train_cfg.neg_pos_ratio={cfg_ratio} and train_cfg.sampler.neg_pos_ratio='
            f'{sampler_ratio} disagree; give one of them'
        )


def build_train_parts(train_cfg: Mapping) -> Tuple[Any, Any, float]:
    """Check ``train_cfg`` and build ``(assigner, sampler, smoothl1_beta)``.

    Raises:
        ValueError: for an unknown key (with the closest known one), a value
            the head does not support, or disagreeing ratios.
        TypeError: for an assigner or sampler that is not batched and cannot
            be mapped onto one.
    """
    check_keys(train_cfg, TRAIN_CFG_KEYS + _META_KEYS, 'SSDHead train_cfg')
    allowed_border = train_cfg.get('allowed_border', -1)
    if allowed_border is not None and allowed_border >= 0:
        raise ValueError(
            f'SSDHead train_cfg.allowed_border={allowed_border} is not supported: SSD keeps '
            f"every default box, also those crossing the image border (paper §2.2; mmdet's "
            f'SSD configs use -1); use a negative value or leave it out'
        )
    pos_weight = train_cfg.get('pos_weight', -1)
    if pos_weight is not None and pos_weight > 0 and pos_weight != 1:
        raise ValueError(
            f'SSDHead train_cfg.pos_weight={pos_weight} is not supported: positives and mined '
            f"negatives have weight 1 in Eq. 1; use -1 (mmdet's SSD configs) or leave it out"
        )
    neg_pos_ratio = train_cfg.get('neg_pos_ratio')
    if neg_pos_ratio is not None and neg_pos_ratio < 0:
        raise ValueError(f'SSDHead train_cfg.neg_pos_ratio must be >= 0, got {neg_pos_ratio}')
    beta = float(train_cfg.get('smoothl1_beta', 1.0))
    if not beta > 0:
        raise ValueError(f'SSDHead train_cfg.smoothl1_beta must be > 0, got {beta}')
    assigner = _build_assigner(train_cfg.get('assigner'))
    if getattr(assigner, 'perm_repeat_gt_cfg', None) is not None:
        raise ValueError(
            'SSDHead train_cfg.assigner.perm_repeat_gt_cfg is not supported by the batched '
            'assignment (see SSDMaxIoUAssigner.batch_assign); drop it'
        )
    sampler = _build_sampler(train_cfg.get('sampler'), neg_pos_ratio)
    return assigner, sampler, beta


def check_box_loss(loss_bbox: Any, reg_decoded_bbox: bool, train_cfg: Optional[Mapping]) -> None:
    """Refuse an IoU loss on offsets; log a ``smoothl1_beta`` that a ``loss_bbox`` replaces."""
    if loss_bbox is None:
        return
    name = type(loss_bbox).__name__
    if 'IoU' in name and not reg_decoded_bbox:
        raise ValueError(
            f'SSDHead: loss_bbox {name} compares boxes, not offsets; set reg_decoded_bbox=True'
        )
    if train_cfg and 'smoothl1_beta' in train_cfg:
        _log_once(
            f'SSDHead: train_cfg.smoothl1_beta={train_cfg["smoothl1_beta"]} is unused: '
            f"loss_bbox {name} replaces the paper's Smooth-L1"
        )


def check_test_cfg(test_cfg: Optional[Mapping], where: str = 'SSDHead test_cfg') -> None:
    """Refuse unknown ``test_cfg`` keys (``score_thresh`` ...) with a hint."""
    check_keys(test_cfg, TEST_CFG_KEYS + _META_KEYS, where)
    if test_cfg:
        check_box_voting(test_cfg.get('box_voting'), where)
