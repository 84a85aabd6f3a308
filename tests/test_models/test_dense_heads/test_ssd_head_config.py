"""SSDHead's train_cfg/test_cfg: unknown keys refused, mmdet's parts mapped."""

import copy
import os.path as osp

import mmdet
import pytest
import torch
from mmdet.models.task_modules.prior_generators import SSDAnchorGenerator as MMDetAnchors
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from model_test_utils import mmdet_ssd_train_cfg
from test_ssd_head import SSD300_HEAD, TRAIN_CFG, build_heads, random_inputs

from ssd_plugin.models import SSDHead, SSDMaxIoUAssigner, SSDPseudoSampler
from ssd_plugin.models.dense_heads import ssd_head_config
from ssd_plugin.registry import MODELS

MMDET_CONFIGS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')


MMDET_TRAIN_CFG = mmdet_ssd_train_cfg()  # mmdet's SSD300 train_cfg (its config)


def head(train_cfg=TRAIN_CFG, **overrides):
    cfg = dict(copy.deepcopy(SSD300_HEAD), train_cfg=copy.deepcopy(train_cfg))
    cfg.update(overrides)
    return MODELS.build(dict(type='SSDHead', **cfg))


def with_train(**changes):
    cfg = copy.deepcopy(TRAIN_CFG)
    cfg.update(changes)
    return cfg


# ------------------------------------------------------------- unknown keys
@pytest.mark.parametrize(
    'train_cfg,match',
    [
        (
            with_train(smoothl1_beeta=0.1),
            r"train_cfg: unknown key 'smoothl1_beeta' \(did you mean 'smoothl1_beta'",
        ),
        (
            with_train(neg_pos_ration=10),
            r"unknown key 'neg_pos_ration' \(did you mean 'neg_pos_ratio'",
        ),
        (
            with_train(sampler=dict(type='SSDPseudoSampler', neg_pos_ration=10)),
            r"SSDPseudoSampler: unknown key 'neg_pos_ration' \(did you mean 'neg_pos_ratio'",
        ),
        (
            dict(MMDET_TRAIN_CFG, sampler=dict(type='PseudoSampler', neg_pos_ration=10)),
            r"sampler \(PseudoSampler\): unknown key 'neg_pos_ration' \(did you mean",
        ),
        (
            dict(MMDET_TRAIN_CFG, assigner=dict(MMDET_TRAIN_CFG['assigner'], pos_iou_thresh=0.4)),
            r"unknown key 'pos_iou_thresh' \(did you mean 'pos_iou_thr'",
        ),
    ],
)  # fmt: skip
def test_misspelled_train_cfg_keys_are_refused(train_cfg, match):
    with pytest.raises((ValueError, TypeError), match=match):
        head(train_cfg)


def test_misspelled_test_cfg_keys_are_refused():
    test_cfg = dict(SSD300_HEAD['test_cfg'], score_thresh=0.5)
    with pytest.raises(
        ValueError, match=r"test_cfg: unknown key 'score_thresh' \(did you mean 'score_thr'"
    ):
        head(test_cfg=test_cfg)


def test_unknown_head_argument_is_refused():
    with pytest.raises(
        TypeError, match=r"SSDHead: unknown key 'num_class' \(did you mean 'num_classes'"
    ):
        MODELS.build(dict(type='SSDHead', num_class=3))


def _mmdet_ssd_configs():
    names = ['_base_/models/ssd300.py', 'ssd/ssd512_coco.py']
    names.append('ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')
    return names


@pytest.mark.parametrize('name', _mmdet_ssd_configs())
def test_every_key_of_mmdets_ssd_configs_is_accepted(name):
    model = Config.fromfile(osp.join(MMDET_CONFIGS, name)).model
    train_cfg, test_cfg = model.train_cfg.to_dict(), model.test_cfg.to_dict()
    assert {'neg_pos_ratio', 'smoothl1_beta', 'allowed_border', 'pos_weight', 'debug'} <= set(
        train_cfg
    )
    ours = head(train_cfg, test_cfg=test_cfg)
    assert isinstance(ours.assigner, SSDMaxIoUAssigner)
    assert isinstance(ours.sampler, SSDPseudoSampler) and ours.sampler.neg_pos_ratio == 3


# ------------------------------------------------------------------ mapping
def test_mmdet_max_iou_assigner_is_mapped_with_mmdets_defaults():
    mapped = head(MMDET_TRAIN_CFG).assigner
    assert type(mapped) is SSDMaxIoUAssigner
    assert (mapped.pos_iou_thr, mapped.neg_iou_thr, mapped.min_pos_iou) == (0.5, 0.5, 0.0)
    assert mapped.gt_max_assign_all is False  # as the config says
    assigner = {k: v for k, v in MMDET_TRAIN_CFG['assigner'].items() if k != 'gt_max_assign_all'}
    assigner.update(type='mmdet.MaxIoUAssigner', ignore_wrt_candidates=False, gpu_assign_thr=5)
    mapped = head(dict(MMDET_TRAIN_CFG, assigner=assigner)).assigner
    assert mapped.gt_max_assign_all is True  # mmdet's default where the config is silent
    assert mapped.ignore_wrt_candidates is False and mapped.gpu_assign_thr == 5


def test_what_cannot_be_mapped_is_refused_at_build_with_the_reason():
    perm = dict(MMDET_TRAIN_CFG['assigner'], perm_repeat_gt_cfg=dict(iou_thr=0.7))
    with pytest.raises(ValueError, match=r'perm_repeat_gt_cfg=...\) cannot be mapped'):
        head(dict(MMDET_TRAIN_CFG, assigner=perm))
    with pytest.raises(TypeError, match=r"assigns the whole batch .* 'mmdet.ATSSAssigner'"):
        head(dict(MMDET_TRAIN_CFG, assigner=dict(type='mmdet.ATSSAssigner', topk=9)))
    # mmdet's RandomSampler needs `num` and `pos_fraction`: the check comes first.
    for sampler in ('mmdet.RandomSampler', 'mmdet.OHEMSampler'):
        with pytest.raises(TypeError, match=rf"needs a sampler with batch_sample.*'{sampler}'"):
            head(dict(TRAIN_CFG, sampler=dict(type=sampler)))
    with pytest.raises(KeyError, match="'NoSuchSampler' is not registered"):
        head(dict(TRAIN_CFG, sampler=dict(type='NoSuchSampler')))


@pytest.mark.parametrize(
    'changes,match',
    [
        (dict(allowed_border=0), 'allowed_border=0 is not supported'),
        (dict(pos_weight=2.0), 'pos_weight=2.0 is not supported'),
        (dict(smoothl1_beta=0), 'smoothl1_beta must be > 0'),
        (dict(neg_pos_ratio=5), 'neg_pos_ratio=5 and train_cfg.sampler.neg_pos_ratio=3 disagree'),
    ],
)
def test_unsupported_values_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        head(with_train(**changes))
    # mmdet's values that mean "as SSD" pass.
    head(with_train(allowed_border=-1, pos_weight=-1, debug=True, neg_pos_ratio=3))
    head(with_train(pos_weight=1))


def test_plain_pseudo_sampler_becomes_hard_negative_mining_logged_once(monkeypatch):
    messages = []
    monkeypatch.setattr(ssd_head_config, 'print_log', lambda msg, **kw: messages.append(msg))
    monkeypatch.setattr(ssd_head_config, '_logged', set())
    for _ in range(3):
        sampler = head(dict(MMDET_TRAIN_CFG, neg_pos_ratio=2)).sampler
        assert type(sampler) is SSDPseudoSampler and sampler.neg_pos_ratio == 2
    replaced = [m for m in messages if 'PseudoSampler is replaced' in m]
    assert replaced == [
        'SSDHead: train_cfg.sampler PseudoSampler is replaced by '
        "SSDPseudoSampler(neg_pos_ratio=2): SSD's hard negative mining (paper §2.2), "
        "which mmdet's SSDHead applies inside its loss "
        'with train_cfg.neg_pos_ratio'
    ]
    assert sum('MaxIoUAssigner runs as SSDMaxIoUAssigner' in m for m in messages) == 1
    # The plugin's own parts are not "replaced": nothing logged.
    messages.clear()
    head(TRAIN_CFG)
    assert messages == []


def test_smoothl1_beta_that_a_box_loss_replaces_is_logged(monkeypatch):
    messages = []
    monkeypatch.setattr(ssd_head_config, 'print_log', lambda msg, **kw: messages.append(msg))
    monkeypatch.setattr(ssd_head_config, '_logged', set())
    giou = dict(reg_decoded_bbox=True, loss_bbox=dict(type='GIoULoss'))
    head(with_train(smoothl1_beta=0.5), **giou)
    assert messages == [
        'SSDHead: train_cfg.smoothl1_beta=0.5 is unused: loss_bbox GIoULoss replaces the '
        "paper's Smooth-L1"
    ]
    messages.clear()
    head(with_train(smoothl1_beta=0.5))  # the Smooth-L1 reads it
    head({k: v for k, v in TRAIN_CFG.items() if k != 'smoothl1_beta'}, **giou)
    assert messages == []


@pytest.mark.parametrize('sparse', [True, False])
def test_mmdets_train_cfg_gives_the_same_loss_as_mmdets_head(sparse):
    # A head with mmdet's SSD train_cfg as it is (MaxIoUAssigner, PseudoSampler,
    # neg_pos_ratio=3) trains, with mmdet's head's loss image by image.
    ours, theirs = build_heads()
    ours_mmdet_cfg = head(MMDET_TRAIN_CFG)
    ours_mmdet_cfg.load_state_dict(ours.state_dict())
    ours_mmdet_cfg.sparse_loss = sparse
    feats, gts, metas = random_inputs(ours, seed=3, counts=(4, 2))
    cls_scores, bbox_preds = ours(feats)
    a = ours_mmdet_cfg.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    b = theirs.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    for key in ('loss_cls', 'loss_bbox'):
        torch.testing.assert_close(torch.stack(a[key]), torch.cat([x.reshape(1) for x in b[key]]))


def test_per_image_lists_sum_to_the_logged_batch_loss():
    ours = head()
    feats, gts, metas = random_inputs(ours, seed=4, counts=(5, 0))
    cls_scores, bbox_preds = ours(feats)
    losses = ours.loss_by_feat(cls_scores, bbox_preds, gts, metas)
    assert [len(v) for v in losses.values()] == [2, 2]
    # Image 1 has no objects: no positives, so no mined negatives either.
    assert losses['loss_cls'][1].item() == 0 and losses['loss_bbox'][1].item() == 0
    loss, log_vars = BaseModel.parse_losses(None, losses)
    expected = sum(t.item() for t in losses['loss_cls'] + losses['loss_bbox'])
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert log_vars['loss_cls'].item() == pytest.approx(losses['loss_cls'][0].item(), rel=1e-6)


# ----------------------------------------------------------------- defaults
def test_default_arguments_build_ssd300_coco():
    ours = SSDHead()
    assert ours.num_classes == 80 and ours.in_channels == (512, 1024, 512, 256, 256, 256)
    assert ours.num_base_priors == [4, 6, 6, 6, 4, 4]
    mmdet_cfg = Config.fromfile(osp.join(MMDET_CONFIGS, '_base_/models/ssd300.py')).model.bbox_head
    theirs = MMDetAnchors(**{k: v for k, v in mmdet_cfg.anchor_generator.items() if k != 'type'})
    sizes = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    ours_priors = ours.prior_generator.grid_priors(sizes, device='cpu')
    for x, y in zip(ours_priors, theirs.grid_priors(sizes, device='cpu')):
        assert torch.equal(x, y)
    assert list(ours.bbox_coder.stds) == list(mmdet_cfg.bbox_coder.target_stds)
    ours.train_cfg = None  # built without one: no assigner, as in mmdet
    assert not hasattr(ours, 'assigner')


def test_configdict_train_cfg_from_a_mmdet_base_is_accepted():
    # mmengine may stamp `_scope_` on dicts that come through `mmdet::` bases.
    cfg = ConfigDict(copy.deepcopy(MMDET_TRAIN_CFG))
    cfg['_scope_'] = 'mmdet'
    assert isinstance(head(cfg).assigner, SSDMaxIoUAssigner)
