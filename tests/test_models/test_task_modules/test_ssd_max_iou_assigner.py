import pytest
import torch
from mmdet.models.task_modules.assigners import MaxIoUAssigner
from mmengine.structures import InstanceData

from ssd_plugin.models import SSDMaxIoUAssigner
from ssd_plugin.registry import TASK_UTILS


def _assign(assigner, priors, gts, labels, ignore=None):
    gt = InstanceData(bboxes=torch.tensor(gts, dtype=torch.float32), labels=torch.tensor(labels))
    ig = None if ignore is None else InstanceData(bboxes=torch.tensor(ignore, dtype=torch.float32))
    pred = InstanceData(priors=torch.tensor(priors, dtype=torch.float32))
    return assigner.assign(pred, gt, ig)


def test_threshold_and_forced_match_hand_computed():
    priors = [[0, 0, 10, 10], [5, 0, 15, 10], [24, 20, 34, 30], [100, 100, 110, 110]]
    gts = [[0, 0, 10, 10], [20, 20, 30, 30]]
    result = _assign(SSDMaxIoUAssigner(), priors, gts, [3, 7])
    # p0: IoU 1 -> gt 1. p1: IoU 50/150 -> negative. p2: IoU 60/140 < 0.5 but the
    # best prior of gt 2 -> forced. p3: IoU 0 -> negative.
    assert result.gt_inds.tolist() == [1, 0, 2, 0]
    assert result.max_overlaps.tolist() == pytest.approx([1, 1 / 3, 60 / 140, 0])
    assert result.labels.tolist() == [3, -1, 7, -1]


def test_shared_best_prior_goes_to_highest_gt_index():
    priors = [[0, 0, 10, 10], [50, 50, 60, 60]]
    result = _assign(SSDMaxIoUAssigner(), priors, [[0, 0, 10, 10], [0, 0, 10, 9]], [0, 1])
    assert result.gt_inds.tolist() == [2, 0]
    assert result.labels.tolist() == [1, -1]


def test_zero_area_gt_is_not_force_matched():
    result = _assign(SSDMaxIoUAssigner(), [[0, 0, 10, 10], [20, 20, 30, 30]], [[5, 5, 5, 9]], [0])
    assert result.gt_inds.tolist() == [0, 0]


def test_no_ground_truth_gives_all_negatives():
    result = _assign(SSDMaxIoUAssigner(), [[0, 0, 10, 10], [1, 1, 5, 5]], torch.zeros(0, 4), [])
    assert result.gt_inds.tolist() == [0, 0]
    assert result.labels.tolist() == [-1, -1]


def test_ignore_boxes():
    priors = [[0, 0, 10, 10], [40, 40, 50, 50], [100, 100, 110, 110]]
    result = _assign(
        SSDMaxIoUAssigner(ignore_iof_thr=0.5),
        priors,
        [[0, 0, 10, 10]],
        [0],
        ignore=[[95, 95, 120, 120]],
    )
    assert result.gt_inds.tolist() == [1, 0, -1]


def _random_boxes(n, size=300, generator=None):
    xy = torch.rand(n, 2, generator=generator) * size * 0.8
    wh = torch.rand(n, 2, generator=generator) * size * 0.5 + 2
    return torch.cat([xy, xy + wh], 1)


@pytest.mark.parametrize('seed', range(4))
def test_parity_with_mmdet_max_iou_assigner(seed):
    g = torch.Generator().manual_seed(seed)
    priors = _random_boxes(500, generator=g)
    theirs = MaxIoUAssigner(
        pos_iou_thr=0.5,
        neg_iou_thr=0.5,
        min_pos_iou=0.0,
        ignore_iof_thr=-1,
        gt_max_assign_all=False,
    )
    ours = TASK_UTILS.build(dict(type='SSDMaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5))
    for num_gts in (1, 5, 17):
        gt = InstanceData(
            bboxes=_random_boxes(num_gts, generator=g),
            labels=torch.randint(0, 80, (num_gts,), generator=g),
        )
        pred = InstanceData(priors=priors)
        a, b = ours.assign(pred, gt), theirs.assign(pred, gt)
        assert torch.equal(a.gt_inds, b.gt_inds)
        assert torch.equal(a.labels, b.labels)
        assert torch.allclose(a.max_overlaps, b.max_overlaps)


def test_batched_and_chunked_equal_per_image():
    g = torch.Generator().manual_seed(0)
    priors = _random_boxes(300, generator=g)
    counts = [3, 0, 7]
    gts = torch.zeros(3, 7, 4)
    valid = torch.zeros(3, 7, dtype=torch.bool)
    labels = torch.randint(0, 5, (3, 7), generator=g)
    for i, n in enumerate(counts):
        gts[i, :n] = _random_boxes(n, generator=g)
        valid[i, :n] = True
    whole = SSDMaxIoUAssigner().batch_assign(priors, gts, labels, valid)
    for budget in (300 * 7 * 2, 300 * 2, 5):
        chunked = SSDMaxIoUAssigner(max_chunk_elements=budget).batch_assign(
            priors, gts, labels, valid
        )
        for x, y in zip(whole, chunked):
            assert torch.equal(x, y), budget
    single = SSDMaxIoUAssigner()
    for i, n in enumerate(counts):
        one = _assign(single, priors.tolist(), gts[i, :n].reshape(-1, 4), labels[i, :n].tolist())
        assert torch.equal(one.gt_inds, whole.gt_inds[i])
    assert (whole.gt_inds[1] == 0).all()


def test_no_priors_gives_an_empty_assignment():
    # A network that predicts no boxes: nothing to assign, with or without
    # ignore boxes or ground truth (no division by the prior count).
    for assigner, ignore in (
        (SSDMaxIoUAssigner(), None),
        (SSDMaxIoUAssigner(ignore_iof_thr=0.5), [[30, 30, 40, 40]]),
    ):
        for gts, labels in (([[0, 0, 10, 9], [0, 10, 10, 19]], [2, 3]), (torch.zeros(0, 4), [])):
            result = _assign(assigner, torch.zeros(0, 4), gts, labels, ignore)
            assert result.gt_inds.shape == result.labels.shape == result.max_overlaps.shape == (0,)
            assert result.gt_inds.dtype == result.labels.dtype == torch.long
    batched = SSDMaxIoUAssigner().batch_assign(
        torch.zeros(0, 4), torch.rand(2, 3, 4), torch.zeros(2, 3, dtype=torch.long),
        torch.ones(2, 3, dtype=torch.bool),
    )  # fmt: skip
    assert all(t.shape == (2, 0) for t in batched)


def test_ignore_iof_relative_to_the_prior_or_to_the_ignore_box():
    # Prior 10x10 at (30, 32); ignore box 10x10 at (30, 30): they share 10x8 = 80 px.
    # wrt the prior (mmdet's default): 80 / 100; wrt the ignore box: 80 / 100 too, so
    # use a big ignore box: 80/100 of the prior, 100/400 of the ignore box.
    priors = [[0, 0, 10, 10], [30, 32, 40, 42]]
    ignore = [[30, 30, 50, 50]]  # 20x20 = 400; overlap with prior 1: 10x10 = 100
    wrt_prior = SSDMaxIoUAssigner(ignore_iof_thr=0.5)
    wrt_ignore = SSDMaxIoUAssigner(ignore_iof_thr=0.5, ignore_wrt_candidates=False)
    assert _assign(wrt_prior, priors, [[0, 0, 10, 10]], [0], ignore).gt_inds.tolist() == [1, -1]
    # 100 / 400 = 0.25 <= 0.5: not ignored.
    assert _assign(wrt_ignore, priors, [[0, 0, 10, 10]], [0], ignore).gt_inds.tolist() == [1, 0]
    small = [[30, 30, 40, 40]]  # 10x10; overlap 10x8 = 80: 0.8 of either box
    assert _assign(wrt_ignore, priors, [[0, 0, 10, 10]], [0], small).gt_inds.tolist() == [1, -1]


@pytest.mark.parametrize('seed', range(3))
def test_mmdet_only_arguments_give_mmdet_results(seed):
    # Every argument of mmdet's MaxIoUAssigner is accepted with its meaning:
    # ignore_wrt_candidates changes the IoF; gpu_assign_thr only picks a device.
    g = torch.Generator().manual_seed(seed)
    priors = _random_boxes(400, generator=g)
    gt = InstanceData(bboxes=_random_boxes(6, generator=g), labels=torch.randint(0, 9, (6,)))
    ignore = InstanceData(bboxes=_random_boxes(3, generator=g))
    pred = InstanceData(priors=priors)
    for kwargs in (
        dict(ignore_iof_thr=0.3, ignore_wrt_candidates=False),
        dict(ignore_iof_thr=0.3, ignore_wrt_candidates=True, gpu_assign_thr=2),
        dict(gt_max_assign_all=True, gpu_assign_thr=-1),
    ):
        args = dict(pos_iou_thr=0.5, neg_iou_thr=0.5, **kwargs)
        a = SSDMaxIoUAssigner(**args).assign(pred, gt, ignore)
        b = MaxIoUAssigner(**args).assign(pred, gt, ignore)
        assert torch.equal(a.gt_inds, b.gt_inds), kwargs
        assert torch.equal(a.labels, b.labels), kwargs


def test_repeated_gt_jitter_per_image_and_refused_batched():
    # Two identical boxes compete for the same best prior; mmdet's
    # perm_repeat_gt_cfg jitters them first. Per image, with the same random
    # stream, the plugin gives mmdet's assignment.
    g = torch.Generator().manual_seed(0)
    priors = _random_boxes(200, size=60, generator=g)
    boxes = torch.tensor([[10.0, 10, 40, 40]] * 2 + [[5.0, 20, 25, 50]] * 3)
    gt = InstanceData(bboxes=boxes, labels=torch.arange(5))
    pred = InstanceData(priors=priors)
    cfg = dict(iou_thr=0.8, perm_range=0.05)
    args = dict(pos_iou_thr=0.5, neg_iou_thr=0.5, perm_repeat_gt_cfg=cfg)
    jitter = SSDMaxIoUAssigner(**args)
    differs = False
    for seed in range(5):
        torch.manual_seed(seed)
        a = jitter.assign(pred, gt)
        torch.manual_seed(seed)
        b = MaxIoUAssigner(**args).assign(pred, gt)
        assert torch.equal(a.gt_inds, b.gt_inds) and torch.equal(a.labels, b.labels), seed
        plain = SSDMaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5).assign(pred, gt)
        differs |= not torch.equal(a.gt_inds, plain.gt_inds)
    assert differs  # the option does change the assignment
    with pytest.raises(NotImplementedError, match='perm_repeat_gt_cfg: mmdet jitters'):
        jitter.batch_assign(
            priors, boxes[None], torch.arange(5)[None], torch.ones(1, 5, dtype=bool)
        )
    with pytest.raises(ValueError, match=r"unknown key 'iou_thresh' \(did you mean 'iou_thr'"):
        SSDMaxIoUAssigner(perm_repeat_gt_cfg=dict(iou_thresh=0.9))


def test_unknown_argument_is_named_with_a_hint():
    with pytest.raises(
        TypeError, match=r"unknown key 'pos_iou_thresh' \(did you mean 'pos_iou_thr'"
    ):
        TASK_UTILS.build(dict(type='SSDMaxIoUAssigner', pos_iou_thresh=0.4))


def test_gt_max_assign_all_default_is_the_papers_single_best_prior():
    # Two priors tie for the ground truth's best IoU (0.25 < 0.5): the paper
    # (and SSDMaxIoUAssigner's default) forces one; mmdet's default forces both.
    priors = [[0, 0, 10, 10], [10, 0, 20, 10], [50, 50, 60, 60]]
    gts = [[5, 0, 15, 10]]  # IoU 50 / 150 = 1/3 with each of the first two priors
    assert _assign(SSDMaxIoUAssigner(), priors, gts, [1]).gt_inds.tolist() == [1, 0, 0]
    both = _assign(SSDMaxIoUAssigner(gt_max_assign_all=True), priors, gts, [1])
    assert both.gt_inds.tolist() == [1, 1, 0]


def test_in_place_iou_is_bitwise_mmdets_bbox_overlaps():
    from mmdet.models.task_modules.assigners import BboxOverlaps2D

    g = torch.Generator().manual_seed(3)
    priors = _random_boxes(500, generator=g)
    gts = _random_boxes(12, generator=g).view(2, 6, 4)
    gts[1, 4:] = 0  # padding: zero boxes
    ours = SSDMaxIoUAssigner()._iou(gts, priors)
    theirs = BboxOverlaps2D()(gts, priors[None].expand(2, -1, -1))
    assert torch.equal(ours, theirs)


def test_best_gt_per_prior_keeps_the_lowest_index_on_ties():
    from ssd_plugin.models.task_modules.assigners.ssd_max_iou_assigner import _max_first

    iou = torch.tensor([[[0.5, 0.0, 0.2, -1.0], [0.5, 0.3, 0.2, -1.0], [0.1, 0.3, 0.7, -1.0]]])
    values, index = _max_first(iou)
    assert values[0].tolist() == pytest.approx([0.5, 0.3, 0.7, -1.0])
    assert index.tolist() == [[0, 1, 2, 0]]
    ref = iou.max(dim=1)
    assert torch.equal(values, ref.values) and torch.equal(index, ref.indices)


def test_ground_truths_split_over_chunks_keep_the_first_best():
    # One ground truth a chunk. p0: IoU 1, 0.8, 1 (a tie with gt 1); p1: 0.8, 1, 0.8.
    # A later chunk above the threshold but not better must not take the prior.
    priors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 8]])
    gts = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 10]]])
    assigner = SSDMaxIoUAssigner(match_low_quality=False, max_chunk_elements=2)
    result = assigner.batch_assign(priors, gts, torch.tensor([[4, 5, 6]]), torch.ones(1, 3).bool())
    assert result.gt_inds.tolist() == [[1, 2]]
    assert result.labels.tolist() == [[4, 5]]
    assert result.max_overlaps[0].tolist() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize('budget', [None, 300 * 4, 300 * 9, 300])
def test_cpu_image_blocks_match_mmdet_per_image(budget):
    # Images grouped into blocks cut to their largest count, with an empty
    # image, duplicated ground truths (ties) and a count above the block size.
    g = torch.Generator().manual_seed(1)
    priors = _random_boxes(300, generator=g)
    counts = [5, 0, 2, 7, 1, 0]
    gts = torch.zeros(len(counts), 7, 4)
    valid = torch.zeros(len(counts), 7, dtype=torch.bool)
    labels = torch.randint(0, 5, (len(counts), 7), generator=g)
    for i, n in enumerate(counts):
        gts[i, :n] = _random_boxes(n, generator=g)
        valid[i, :n] = True
    gts[3, 6] = gts[3, 2]  # exact duplicate: equal IoU everywhere
    ours = SSDMaxIoUAssigner(max_chunk_elements=budget).batch_assign(priors, gts, labels, valid)
    mmdet = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.0)
    for i, n in enumerate(counts):
        if n == 0:
            assert (ours.gt_inds[i] == 0).all()
            continue
        ref = mmdet.assign(
            InstanceData(priors=priors), InstanceData(bboxes=gts[i, :n], labels=labels[i, :n])
        )
        assert torch.equal(ours.gt_inds[i], ref.gt_inds), (budget, i)
        assert torch.equal(ours.max_overlaps[i], ref.max_overlaps), (budget, i)
