"""KD-DETR distillation loss over consistent distillation points (no matching)."""
from typing import Dict

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.models.losses import l1_loss
from mmdet.models.losses.iou_loss import giou_loss
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import reduce_mean
from ..task_modules import check_head_kind, pad_teacher_probs, soft_kl, teacher_confidence


@MODELS.register_module()
class KDDETRLoss(nn.Module):
    """Student predictions on distillation points mimic the teacher's on the same points.

    Point i of the student answers the same query as point i of the teacher, so the loss
    compares them one to one. With teacher logits z_i and boxes b_i (its last decoder
    layer), student logits ẑ_i^l and boxes b̂_i^l of decoder layer l, for every layer l:

        w_i          = conf(z_i)                      (detached, at T = 1)
        W            = mean over DDP ranks of Σ_i w_i
        loss_kd_cls  = λ_cls  · Σ_i w_i · T² · KL(p_T(z_i) || p_T(ẑ_i^l)) / W
        loss_kd_bbox = λ_L1   · Σ_i w_i · ‖b_i − b̂_i^l‖_1 / W
        loss_kd_iou  = λ_GIoU · Σ_i w_i · (1 − GIoU(b_i, b̂_i^l)) / W

    p_T(z) = softmax(z / T) over |C|+1 classes with background for ``'softmax'`` heads
    (DETR), per-class sigmoid(z / T) with a Bernoulli KL per class for ``'sigmoid'`` heads
    (Conditional / DAB-DETR); conf = the largest non-background probability (softmax) or
    the largest class probability (sigmoid), as TA's (:func:`teacher_confidence`), so points
    on background barely count. Each term is a confidence-weighted mean over the points,
    hence independent of how many points are drawn. Boxes are normalised (cx, cy, w, h);
    GIoU is taken on them directly (it is invariant to scaling x and y, so it equals the
    GIoU on absolute coordinates and needs no image sizes). Names follow mmdet's DETRHead:
    the last layer's terms plain, layer l's ``d{l}.loss_kd_*``.

    Args:
        temperature (float): T. Default 10 (KD-DETR reference code).
        cls_weight (float): λ_cls. Default 1.
        l1_weight (float): λ_L1. Default 5.
        giou_weight (float): λ_GIoU. Default 2.
        aux_layers (bool): distil every student decoder layer (the paper), not only the
            last. Default True.
        eps (float): floor of W: with no confident point at all the loss is ~0, not NaN.
    """

    def __init__(self,
                 temperature: float = 10.0,
                 cls_weight: float = 1.0,
                 l1_weight: float = 5.0,
                 giou_weight: float = 2.0,
                 aux_layers: bool = True,
                 eps: float = 1e-6) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature!r}.')
        weights = dict(cls_weight=cls_weight, l1_weight=l1_weight, giou_weight=giou_weight)
        for name, value in weights.items():
            if not value >= 0:
                raise ValueError(f'{name} must be >= 0, got {value!r}.')
        self.temperature = temperature
        self.cls_weight = cls_weight
        self.l1_weight = l1_weight
        self.giou_weight = giou_weight
        self.aux_layers = aux_layers
        self.eps = eps

    def forward(self, student_logits: Tensor, student_boxes: Tensor, teacher_logits: Tensor,
                teacher_boxes: Tensor, head: str) -> Dict[str, Tensor]:
        """The loss of all (or the last) student decoder layers.

        Args:
            student_logits (Tensor): (L, B, P, K) logits of the student's L decoder layers,
                K = |C|+1 (softmax head, background last) or |C| (sigmoid head).
            student_boxes (Tensor): (L, B, P, 4) normalised (cx, cy, w, h).
            teacher_logits (Tensor): (B, P, K) logits of the teacher's last layer.
            teacher_boxes (Tensor): (B, P, 4) normalised (cx, cy, w, h).
            head (str): ``'softmax'`` or ``'sigmoid'``, both models' head kind.

        Returns:
            dict[str, Tensor]: ``loss_kd_cls``, ``loss_kd_bbox``, ``loss_kd_iou`` and, with
            ``aux_layers``, ``d{l}.loss_kd_*`` for l < L - 1.
        """
        check_head_kind(head)
        self._check_shapes(student_logits, student_boxes, teacher_logits, teacher_boxes)
        with torch.no_grad():
            num_classes = teacher_logits.shape[-1] - (head == 'softmax')
            identity = torch.arange(num_classes, device=teacher_logits.device)
            probs = pad_teacher_probs(teacher_logits, identity, num_classes, head,
                                      temperature=self.temperature).flatten(0, 1)
            weights = teacher_confidence(teacher_logits, head)[0].flatten()  # (B·P,)
            targets = teacher_boxes.float().flatten(0, 1)
            avg = reduce_mean(weights.sum()).clamp(min=self.eps)
        num_layers = len(student_logits)
        layers = range(num_layers) if self.aux_layers else [num_layers - 1]
        losses = {}
        for layer in layers:
            prefix = '' if layer == num_layers - 1 else f'd{layer}.'
            terms = self._layer_loss(student_logits[layer].flatten(0, 1),
                                     student_boxes[layer].flatten(0, 1), probs, targets,
                                     weights, avg, head)
            losses.update({prefix + k: v for k, v in terms.items()})
        return losses

    def _layer_loss(self, logits: Tensor, boxes: Tensor, probs: Tensor, targets: Tensor,
                    weights: Tensor, avg: Tensor, head: str) -> Dict[str, Tensor]:
        """One layer; logits (N, K), boxes (N, 4), probs (N, K), targets (N, 4), weights (N,)."""
        kl = soft_kl(probs, logits, head, self.temperature)  # (N,), float32
        boxes = boxes.float()
        loss_l1 = l1_loss(boxes, targets, weight=weights.unsqueeze(1), avg_factor=avg)
        loss_giou = giou_loss(bbox_cxcywh_to_xyxy(boxes), bbox_cxcywh_to_xyxy(targets),
                              weight=weights, avg_factor=avg)
        return dict(
            loss_kd_cls=self.cls_weight * (weights * kl).sum() / avg,
            loss_kd_bbox=self.l1_weight * loss_l1,
            loss_kd_iou=self.giou_weight * loss_giou)

    @staticmethod
    def _check_shapes(student_logits: Tensor, student_boxes: Tensor, teacher_logits: Tensor,
                      teacher_boxes: Tensor) -> None:
        if student_logits.dim() != 4 or tuple(student_logits.shape[1:]) != tuple(
                teacher_logits.shape):
            raise ValueError(
                f'Student logits {tuple(student_logits.shape)} must be (L, B, P, K) and match '
                f'the teacher logits {tuple(teacher_logits.shape)} (B, P, K): the same points '
                'and the same classes.')
        if tuple(student_boxes.shape) != (*student_logits.shape[:3], 4) or tuple(
                teacher_boxes.shape) != (*teacher_logits.shape[:2], 4):
            raise ValueError(f'Boxes must be (L, B, P, 4) and (B, P, 4); got student '
                             f'{tuple(student_boxes.shape)}, teacher '
                             f'{tuple(teacher_boxes.shape)}.')
