import pytest
import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmengine.structures import InstanceData

from ssd_plugin.models import SSDPseudoSampler
from ssd_plugin.registry import TASK_UTILS


def test_keeps_three_hardest_negatives_per_positive():
    sampler = TASK_UTILS.build(dict(type='SSDPseudoSampler'))
    pos = torch.tensor([[True] + [False] * 7, [False] * 8])
    neg = ~pos
    loss = torch.tensor([[5.0, 0.1, 0.9, 0.5, 0.3, 0.8, 0.2, 0.7], [9.0] * 8])
    keep = sampler.batch_sample(pos, neg, loss)
    assert keep[0].nonzero().flatten().tolist() == [2, 5, 7]  # losses 0.9, 0.8, 0.7
    assert not keep[1].any()  # no positive, no negative (paper and mmdet)


def test_limited_by_available_negatives_and_ratio_none():
    pos = torch.tensor([[True, True, True, False, False]])
    neg = ~pos
    loss = torch.rand(1, 5)
    assert SSDPseudoSampler(neg_pos_ratio=3).batch_sample(pos, neg, loss).sum() == 2
    assert torch.equal(SSDPseudoSampler(neg_pos_ratio=None).batch_sample(pos, neg, loss), neg)
    one = SSDPseudoSampler(neg_pos_ratio=1).batch_sample(
        pos[:, [0, 3, 4]], neg[:, [0, 3, 4]], torch.tensor([[0.0, 0.2, 0.6]])
    )
    assert one.tolist() == [[False, False, True]]


def test_ignored_priors_are_never_negatives():
    pos = torch.tensor([[True, False, False, False]])
    neg = torch.tensor([[False, True, False, True]])  # prior 2 is ignored
    keep = SSDPseudoSampler().batch_sample(pos, neg, torch.tensor([[0.0, 0.1, 99.0, 0.2]]))
    assert keep.tolist() == [[False, True, False, True]]


def test_mmdet_sampler_interface():
    assign = AssignResult(
        1, torch.tensor([1, 0, 0, 0, -1]), torch.zeros(5), torch.tensor([2, -1, -1, -1, -1])
    )
    priors = torch.rand(5, 4)
    result = SSDPseudoSampler(neg_pos_ratio=2).sample(
        assign,
        InstanceData(priors=priors),
        InstanceData(bboxes=torch.rand(1, 4)),
        cls_loss=torch.tensor([0.0, 0.3, 0.1, 0.2, 5.0]),
    )
    assert result.pos_inds.tolist() == [0]
    assert result.neg_inds.tolist() == [1, 3]
    assert result.avg_factor == 1
    plain = SSDPseudoSampler().sample(
        assign, InstanceData(priors=priors), InstanceData(bboxes=torch.rand(1, 4))
    )
    assert plain.neg_inds.tolist() == [1, 2, 3]


def test_negative_ratio_rejected():
    with pytest.raises(ValueError, match='neg_pos_ratio'):
        SSDPseudoSampler(neg_pos_ratio=-1)


def test_cpu_topk_and_gpu_rank_strategies_agree():
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(6, 500, generator=g) < 0.02
    neg = ~pos & (torch.rand(6, 500, generator=g) < 0.9)
    pos[5] = False  # an image without positives keeps no negatives
    loss = torch.rand(6, 500, generator=g).masked_fill(~neg, float('-inf'))
    num_neg = torch.minimum(pos.sum(1) * 3, neg.sum(1))
    a = SSDPseudoSampler._mine_by_topk(loss, neg, num_neg)
    b = SSDPseudoSampler._mine_by_rank(loss, neg, num_neg)
    assert torch.equal(a, b)
    assert torch.equal(a.sum(1), num_neg) and not a[5].any()
    # Each kept negative is at least as hard as every dropped one, per image.
    for i in range(6):
        if a[i].any() and (neg[i] & ~a[i]).any():
            assert loss[i][a[i]].min() >= loss[i][neg[i] & ~a[i]].max()


def test_misspelled_ratio_is_an_error_not_ignored():
    # mmdet's PseudoSampler swallows any keyword; a typo here trained as 3:1.
    with pytest.raises(
        TypeError, match=r"unknown key 'neg_pos_ration' \(did you mean 'neg_pos_ratio'"
    ):
        TASK_UTILS.build(dict(type='SSDPseudoSampler', neg_pos_ration=10))
