"""Match costs of the teacher-student target matching (paper eq. 10), for mmdet's assigner.

    L_match(y_σ(i), ŷ_i) = α1 · D_KL(p_σ(i) || p̂_i) + α2 · L_box(b_σ(i), b̂_i) − α3 · conf(p_σ(i))

mmdet's :class:`HungarianAssigner` sums a list of match costs and solves the assignment;
this file adds the two terms mmdet lacks. L_box is mmdet's own ``BBoxL1Cost`` (weight 5) +
``IoUCost(iou_mode='giou')`` (weight 2), as in DETR; α from UP-DETR (class 1, L1 5, GIoU 2).
The authors' public code matches with DETR's own cost instead; :func:`ta_assigner_cfg`
builds either.

Inputs, as mmdet's ``DETRHead`` builds them:

- ``pred_instances``: the student's m queries; ``scores`` (m, K) logits, ``bboxes`` (m, 4)
  absolute (x1, y1, x2, y2);
- ``gt_instances``: k soft targets from :class:`SoftTargetBuilder`, with ``bboxes`` converted
  to absolute (x1, y1, x2, y2) and metainfo ``head``/``temperature``;
- ``img_meta['img_shape']``: what mmdet's box costs normalise by.

The assignment solves the rectangular problem with ``scipy.optimize.linear_sum_assignment``:
with k <= m every target gets one student and m - k students stay unmatched; with k > m every
student gets one target, and the k - m targets left over are those the optimal total cost
does not need (the −α3·conf term makes confident targets cheaper, but it is not a top-m cut).
"""
from typing import Optional, Union

from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmdet.registry import TASK_UTILS
from .soft_kl import check_head_kind, soft_kl


@TASK_UTILS.register_module()
class SoftKLCost(BaseMatchCost):
    """α1 · D_KL(p_t_j || p̂_s_i) of eq. 10, for every student i and target j.

    The KL is :func:`~mmka.models.task_modules.soft_kl.soft_kl` at the targets' temperature T
    (times T², the same quantity the loss of eq. 11 uses): a categorical KL over |C|+1
    classes for softmax heads, a sum of per-class Bernoulli KLs for sigmoid heads.

    Args:
        weight (float): α1. Defaults to 1.
    """

    def __call__(self,
                 pred_instances: InstanceData,
                 gt_instances: InstanceData,
                 img_meta: Optional[dict] = None,
                 **kwargs) -> Tensor:
        """Returns: Tensor of shape (m, k)."""
        cost = soft_kl(gt_instances.probs, pred_instances.scores, head=gt_instances.head,
                       temperature=gt_instances.temperature, pairwise=True)
        return cost * self.weight


@TASK_UTILS.register_module()
class TeacherConfidenceCost(BaseMatchCost):
    """−α3 · conf(p_t_j) of eq. 10: confident teacher targets are matched first.

    The same for every student query; it only matters when there are more targets than
    students (k > m), where it favours keeping the confident ones.

    Args:
        weight (float): α3. Defaults to 1.
    """

    def __call__(self,
                 pred_instances: InstanceData,
                 gt_instances: InstanceData,
                 img_meta: Optional[dict] = None,
                 **kwargs) -> Tensor:
        """Returns: Tensor of shape (m, k)."""
        conf = gt_instances.scores.float()
        return -self.weight * conf.unsqueeze(0).expand(len(pred_instances), -1)


MATCH_COSTS = ('kl', 'prob')


def ta_assigner_cfg(cost: str = 'kl',
                    head: str = 'softmax',
                    kl: Union[float, int] = 1.0,
                    l1: Union[float, int] = 5.0,
                    giou: Union[float, int] = 2.0,
                    conf: Union[float, int] = 1.0,
                    cls: Optional[Union[float, int]] = None) -> dict:
    """Config of the TA :class:`HungarianAssigner`; a new dict on every call.

    Two class terms, the paper's and the authors' code's; the box term is the same
    (α2 · L_box = ``l1`` · L1 + ``giou`` · (−GIoU), weights from UP-DETR / DETR):

    - ``cost='kl'`` (paper eq. 10 read literally, the default):
      ``kl`` · D_KL(p_t || p̂_s) + L_box − ``conf`` · conf(p_t) (α1 = ``kl``, α3 = ``conf``).
      The −α3·conf term is the same for every student of a target, so it can change the
      assignment only when some targets stay unmatched (k > m); with k <= m every target
      is matched and it adds a constant to every complete assignment.
    - ``cost='prob'`` (the authors' public code): DETR's own ground-truth matching cost on
      the teacher's hard argmax label, no KL and no confidence term: −p̂_s[label] +
      L_box for softmax heads (mmdet's ``ClassificationCost``), and for sigmoid heads the
      matcher those models use for ground truth (mmdet's ``FocalLossCost``).

    Args:
        cost (str): ``'kl'`` or ``'prob'``.
        head (str): ``'softmax'`` or ``'sigmoid'``; picks the class term of ``'prob'``.
        kl (float): α1 of ``'kl'``.
        l1 (float): weight of the L1 box cost.
        giou (float): weight of the GIoU box cost.
        conf (float): α3 of ``'kl'``.
        cls (float, optional): weight of the class term of ``'prob'``. Default: the
            models' own, 1 for softmax heads (DETR, the authors' code), 2 for sigmoid
            heads (mmdet's Conditional / DAB-DETR).
    """
    check_head_kind(head)
    box_costs = [
        dict(type='BBoxL1Cost', weight=l1, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=giou),
    ]
    if cost == 'kl':
        return dict(
            type='HungarianAssigner',
            match_costs=[dict(type='SoftKLCost', weight=kl), *box_costs,
                         dict(type='TeacherConfidenceCost', weight=conf)])
    if cost == 'prob':
        if head == 'softmax':
            cls_cost = dict(type='ClassificationCost', weight=1.0 if cls is None else cls)
        else:
            cls_cost = dict(type='FocalLossCost', weight=2.0 if cls is None else cls)
        return dict(type='HungarianAssigner', match_costs=[cls_cost, *box_costs])
    raise ValueError(f'Unknown TA match cost {cost!r}; use one of {MATCH_COSTS} '
                     "('kl': the paper's eq. 10, 'prob': the authors' code).")
