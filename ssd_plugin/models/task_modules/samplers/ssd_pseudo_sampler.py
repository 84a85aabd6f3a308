"""All positives plus hard negatives (SSD §2.2 "Hard negative mining")."""

from typing import Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.models.task_modules.samplers import SamplingResult
from mmengine.structures import InstanceData
from torch import Tensor

from ssd_plugin.registry import TASK_UTILS
from ssd_plugin.utils.strict_args import strict_init


@TASK_UTILS.register_module()
@strict_init
class SSDPseudoSampler:
    """Pseudo-sampler that keeps every positive and mines hard negatives.

    SSD §2.2: "Instead of using all the negative examples, we sort them using
    the highest confidence loss for each default box and pick the top ones so
    that the ratio between the negatives and positives is at most 3:1."

    Mining is per image: image ``i`` keeps its ``k_i = min(ratio * P_i, N_i)``
    negatives of highest confidence loss (``P_i`` positives, ``N_i``
    negatives). An image without positives keeps no negatives, as in the paper
    and mmdet. Which of several negatives with exactly equal loss is kept does
    not change the loss.

    With ``neg_pos_ratio=None`` it is a plain pseudo-sampler: every negative
    is kept.

    Unlike mmdet's ``PseudoSampler`` (``**kwargs``, all ignored), an unknown
    argument is an error naming the closest accepted one, so a misspelled
    ``neg_pos_ration=10`` cannot train as if it were absent.

    Args:
        neg_pos_ratio: Negatives kept per positive, or None to keep all.
    """

    def __init__(self, neg_pos_ratio: Optional[float] = 3) -> None:
        if neg_pos_ratio is not None and neg_pos_ratio < 0:
            raise ValueError(f'neg_pos_ratio must be >= 0 or None, got {neg_pos_ratio}')
        self.neg_pos_ratio = neg_pos_ratio

    def batch_sample(self, pos_mask: Tensor, neg_mask: Tensor, cls_loss: Tensor) -> Tensor:
        """Choose the negatives of a whole batch at once, without host sync.

        Args:
            pos_mask: ``(B, A)`` bool, positive priors.
            neg_mask: ``(B, A)`` bool, negative candidates.
            cls_loss: ``(B, A)`` confidence loss of every prior (detached).

        Returns:
            ``(B, A)`` bool mask of the negatives to train on.
        """
        if self.neg_pos_ratio is None:
            return neg_mask
        num_neg = torch.minimum(
            (pos_mask.sum(dim=1) * self.neg_pos_ratio).long(), neg_mask.sum(dim=1)
        )  # (B,) k_i
        loss = cls_loss.detach().masked_fill(~neg_mask, float('-inf'))
        if loss.is_cuda:
            return self._mine_by_rank(loss, neg_mask, num_neg)
        return self._mine_by_topk(loss, neg_mask, num_neg)

    @staticmethod
    def _mine_by_topk(loss: Tensor, neg_mask: Tensor, num_neg: Tensor) -> Tensor:
        """Top-``max(k_i)`` per row: cheapest where reading ``k_i`` is free (CPU).

        8x / 5x faster than :meth:`_mine_by_rank` on CPU (SSD300's 8732
        priors, 1 thread, batch 8 / 32).

        Args:
            loss: ``(B, A)`` loss, ``-inf`` where not a negative.
            neg_mask: ``(B, A)`` bool.
            num_neg: ``(B,)`` negatives to keep per image.
        """
        k_max = int(num_neg.max()) if num_neg.numel() else 0
        chosen = torch.zeros_like(neg_mask)
        if k_max > 0:
            top = loss.topk(k_max, dim=1).indices  # (B, k_max), hardest first
            keep = torch.arange(k_max, device=loss.device)[None] < num_neg[:, None]
            chosen.scatter_(1, top, keep)
        return chosen & neg_mask

    @staticmethod
    def _mine_by_rank(loss: Tensor, neg_mask: Tensor, num_neg: Tensor) -> Tensor:
        """Rank every negative in its image (0 = hardest), never reading ``k_i``
        on the host: no device sync (GPU). Arguments as :meth:`_mine_by_topk`."""
        order = loss.argsort(dim=1, descending=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(order.size(1), device=order.device).expand_as(order))
        return neg_mask & (rank < num_neg[:, None])

    def sample(
        self,
        assign_result: AssignResult,
        pred_instances: InstanceData,
        gt_instances: InstanceData,
        cls_loss: Optional[Tensor] = None,
        **kwargs,
    ) -> SamplingResult:
        """Sample one image, with mmdet's sampler interface.

        Args:
            assign_result: Assignment of the image's ``A`` priors.
            pred_instances: ``priors`` ``(A, 4)``.
            gt_instances: ``bboxes`` ``(G, 4)``.
            cls_loss: ``(A,)`` confidence loss per prior. Without it (or with
                ``neg_pos_ratio=None``) every negative is returned.

        Returns:
            mmdet's ``SamplingResult``; ``avg_factor`` is the positive count.
        """
        gt_inds = assign_result.gt_inds
        pos_mask = gt_inds > 0
        neg_mask = gt_inds == 0
        if cls_loss is not None:
            neg_mask = self.batch_sample(pos_mask[None], neg_mask[None], cls_loss[None])[0]
        priors = pred_instances.priors
        gt_bboxes = gt_instances.bboxes
        return SamplingResult(
            pos_inds=torch.nonzero(pos_mask, as_tuple=False).squeeze(-1).unique(),
            neg_inds=torch.nonzero(neg_mask, as_tuple=False).squeeze(-1).unique(),
            priors=priors,
            gt_bboxes=gt_bboxes,
            assign_result=assign_result,
            gt_flags=priors.new_zeros(priors.shape[0], dtype=torch.uint8),
            avg_factor_with_neg=False,
        )

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(neg_pos_ratio={self.neg_pos_ratio})'
