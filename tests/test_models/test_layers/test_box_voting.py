import pytest
import torch

from ssd_plugin.models.layers import box_voting, check_box_voting

# A kept box, a close one of its class (IoU 81/119 = 0.68), one of another class and a
# far one of its class.
BOXES = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 12], [50, 50, 60, 60]])
SCORES = torch.tensor([0.6, 0.2, 0.9, 0.9])
LABELS = torch.tensor([0, 0, 1, 0])


def test_kept_box_moves_to_the_score_weighted_mean_of_its_voters():
    voted = box_voting(BOXES[:1], LABELS[:1], BOXES, SCORES, LABELS, iou_thr=0.6)
    # (0.6 * 0 + 0.2 * 1) / 0.8 = 0.25 on every side; the other class and the far box
    # do not vote
    assert torch.allclose(voted, torch.tensor([[0.25, 0.25, 10.25, 10.25]]))


def test_below_the_iou_threshold_a_box_does_not_vote():
    voted = box_voting(BOXES[:1], LABELS[:1], BOXES, SCORES, LABELS, iou_thr=0.7)
    assert torch.equal(voted, BOXES[:1])


def test_per_kept_box_candidates_give_the_same_votes():
    kept, labels = BOXES[[0, 3]], LABELS[[0, 3]]
    shared = box_voting(kept, labels, BOXES, SCORES, LABELS, iou_thr=0.6)
    per_box = box_voting(
        kept, labels, BOXES.expand(2, -1, -1), SCORES.expand(2, -1), LABELS.expand(2, -1), 0.6
    )
    assert torch.equal(shared, per_box)
    assert torch.equal(shared[1], BOXES[3])  # alone in its place: its own vote only


def test_a_kept_box_without_votes_stays():
    voted = box_voting(BOXES[:1], LABELS[:1], BOXES, torch.zeros(4), LABELS, iou_thr=0.5)
    assert torch.equal(voted, BOXES[:1])


@pytest.mark.parametrize(
    'cfg, match',
    [
        (dict(iou=0.8), r'box_voting takes iou_thr only'),
        (dict(iou_thr=1.5), r'box_voting.iou_thr must be in \(0, 1\], got 1.5'),
        (0.8, r'box_voting must be a dict\(iou_thr=...\), got 0.8'),
    ],
)
def test_bad_config_is_refused_by_name(cfg, match):
    with pytest.raises(ValueError, match=match):
        check_box_voting(cfg, 'SSDHead test_cfg')


def test_config_gives_its_threshold():
    assert check_box_voting(dict(iou_thr=0.8), 'x') == 0.8
    assert check_box_voting(None, 'x') is None
