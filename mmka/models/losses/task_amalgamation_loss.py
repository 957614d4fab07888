"""Task-level amalgamation loss (paper eq. 11) for one decoder layer of the student."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.losses import l1_loss
from mmdet.models.losses.iou_loss import giou_loss
from mmdet.models.task_modules.assigners import AssignResult
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import ConfigType, reduce_mean
from ..task_modules import background_target, soft_kl, ta_assigner_cfg

UNMATCHED_POLICIES = ('none', 'background')
NORMALIZERS = ('num_matched', 'conf_sum')


def _img_factor(img_meta: dict, like: Tensor) -> Tensor:
    """(w, h, w, h) of an image, shape (1, 4): normalised boxes -> absolute ones."""
    img_h, img_w = img_meta['img_shape'][:2]
    return like.new_tensor([img_w, img_h, img_w, img_h]).unsqueeze(0)


@MODELS.register_module()
class TaskAmalgamationLoss(nn.Module):
    """Hungarian distillation loss from pooled teacher soft targets (eqs. 10-11).

    For one decoder layer: match the student's m queries to the k soft targets of each image
    with the eq. 10 assigner, then

        loss_ta_cls  = β1 · [Σ_matched w_j · D_KL(p_j || p̂_i)
                             + bg_weight · Σ_unmatched KL(bg || p̂_i)] / N_cls
        loss_ta_bbox = β2 · w_l1 · Σ_matched w_j · |b_j − b̂_i|_1 / N_box
        loss_ta_iou  = β2 · w_giou · Σ_matched w_j · (1 − GIoU(b_j, b̂_i)) / N_box

    whose sum is L_task, with D_KL = T² · KL at the targets' temperature (:func:`soft_kl`)
    and the pair weight w_j = conf_j (``conf_weighting=True``, eq. 11: "we use the
    confidence ... as the pairwise supervision weight") or 1 (``False``, the authors'
    public code).
    Boxes: L1 on normalised (cx, cy, w, h), GIoU on absolute (x1, y1, x2, y2), as mmdet's
    ``DETRHead``.

    Normalisers, like ``DETRHead``'s (averaged over DDP ranks with ``reduce_mean``, clamped
    to >= 1 so an image or batch without targets does not blow up the loss):
    N_box = the number of matched targets (``normalizer='num_matched'``, the DETR choice)
    or Σ_matched conf_j (``'conf_sum'``, a conf-weighted mean; needs ``conf_weighting``);
    N_cls = N_box + bg_weight · #unmatched queries (the latter only with
    ``unmatched='background'``), as DETR's ``num_pos + bg_cls_weight · num_neg``.

    Unmatched student queries (``unmatched``): ``'none'`` — no loss; ``'background'`` (the
    public code) — a hard "no object" target with weight ``bg_weight``, at T = 1 since it is
    not a soft target: cross-entropy towards the background class for softmax heads, BCE
    towards all-zero for sigmoid heads (its Bernoulli KL; plain BCE rather than focal so the
    term is the same divergence as the matched one).

    Hard-label class term (``cls_loss``, mmka's diagnostic, not eq. 11): the class term of
    mmdet's ``DETRHead`` on the targets' argmax labels instead of the KL to their soft
    probabilities. Matched query i gets its target's ``labels`` entry with weight w_j,
    unmatched ones the background label with weight ``bg_weight`` (0 with
    ``unmatched='none'``), and the built loss (e.g. ``FocalLoss``, DINO's) is averaged as
    ``DETRHead`` averages ``loss_cls``: by N_box for sigmoid heads, whose
    ``bg_cls_weight`` is 0 (the focal term down-weights easy negatives itself), by N_cls
    for softmax heads. The targets' temperature then acts on the matching only. It makes
    TA's class term the one L_d uses on labels, so a row can tell the class-loss form from
    everything else that differs between the two.

    Args:
        assigner (dict, optional): config of the eq. 10 assigner. Defaults to
            :func:`ta_assigner_cfg` (α1 = 1, L1 5, GIoU 2, α3 = 1).
        cls_weight (float): β1. Defaults to 1.
        box_weight (float): β2. Defaults to 1.
        l1_weight (float): the L1 weight inside L_box. Defaults to 5.
        giou_weight (float): the GIoU weight inside L_box. Defaults to 2.
        unmatched (str): ``'none'`` or ``'background'``. Defaults to ``'background'``.
        bg_weight (float): weight of an unmatched query's background term. Defaults to 0.1.
        normalizer (str): ``'num_matched'`` or ``'conf_sum'``. Defaults to ``'num_matched'``.
        conf_weighting (bool): weight each matched pair by its target's conf (eq. 11).
            Defaults to True (paper); the authors' code uses False.
        cls_loss (dict, optional): config of an mmdet classification loss on hard labels
            (``use_sigmoid`` matching the targets' head), replacing the KL class term.
            Defaults to None (eq. 11's KL).
    """

    def __init__(self,
                 assigner: Optional[ConfigType] = None,
                 cls_weight: float = 1.0,
                 box_weight: float = 1.0,
                 l1_weight: float = 5.0,
                 giou_weight: float = 2.0,
                 unmatched: str = 'background',
                 bg_weight: float = 0.1,
                 normalizer: str = 'num_matched',
                 conf_weighting: bool = True,
                 cls_loss: Optional[ConfigType] = None) -> None:
        super().__init__()
        if unmatched not in UNMATCHED_POLICIES:
            raise ValueError(f'Unknown unmatched policy {unmatched!r}; use one of '
                             f'{UNMATCHED_POLICIES}.')
        if normalizer not in NORMALIZERS:
            raise ValueError(f'Unknown normalizer {normalizer!r}; use one of {NORMALIZERS}.')
        if normalizer == 'conf_sum' and not conf_weighting:
            raise ValueError("normalizer='conf_sum' is the mean of conf-weighted pairs; with "
                             "conf_weighting=False use normalizer='num_matched'.")
        weights = dict(cls_weight=cls_weight, box_weight=box_weight, l1_weight=l1_weight,
                       giou_weight=giou_weight, bg_weight=bg_weight)
        for name, value in weights.items():
            if not value >= 0:
                raise ValueError(f'{name} must be >= 0, got {value!r}.')
        self.assigner = TASK_UTILS.build(assigner if assigner is not None else ta_assigner_cfg())
        self.cls_weight = cls_weight
        self.box_weight = box_weight
        self.l1_weight = l1_weight
        self.giou_weight = giou_weight
        self.unmatched = unmatched
        self.bg_weight = bg_weight
        self.normalizer = normalizer
        self.conf_weighting = conf_weighting
        self.cls_loss = MODELS.build(cls_loss) if cls_loss is not None else None

    def forward(self, student_logits: Tensor, student_boxes: Tensor,
                targets: Sequence[InstanceData], img_metas: Sequence[dict]) -> dict:
        """Match and compute the loss for one decoder layer.

        Args:
            student_logits (Tensor): (B, m, K) class logits, K = |C|+1 (softmax head,
                background last) or |C| (sigmoid head), the same kind as the targets.
            student_boxes (Tensor): (B, m, 4) normalised (cx, cy, w, h), after sigmoid.
            targets (Sequence[InstanceData]): B target sets from :class:`SoftTargetBuilder`.
            img_metas (Sequence[dict]): B image metas with ``img_shape`` (h, w).

        Returns:
            dict[str, Tensor]: ``loss_ta_cls``, ``loss_ta_bbox`` (L1), ``loss_ta_iou`` (GIoU),
            scalars connected to ``student_logits`` and ``student_boxes`` even with no targets.
        """
        self._check_inputs(student_logits, student_boxes, targets, img_metas)
        assign_results = self.assign(student_logits, student_boxes, targets, img_metas)
        return self.loss_by_assignment(student_logits, student_boxes, targets, assign_results,
                                       img_metas)

    def loss_by_layers(self, all_layers_logits: Tensor, all_layers_boxes: Tensor,
                       targets: Sequence[InstanceData], img_metas: Sequence[dict],
                       aux_layers: bool = True) -> dict:
        """:meth:`forward` on the last decoder layer and, if ``aux_layers``, on every other.

        Each layer is matched on its own, as DETR's auxiliary losses; the targets are shared.
        Names follow mmdet's ``DETRHead``: the last layer's terms plain (``loss_ta_cls``),
        layer l's prefixed (``d0.loss_ta_cls``, ...).

        Args:
            all_layers_logits (Tensor): (L, B, m, K), as a DETR head's ``forward`` returns.
            all_layers_boxes (Tensor): (L, B, m, 4) normalised (cx, cy, w, h).
            targets, img_metas: as in :meth:`forward`.
            aux_layers (bool): also supervise the L - 1 auxiliary layers.
        """
        losses = self(all_layers_logits[-1], all_layers_boxes[-1], targets, img_metas)
        if aux_layers:
            for layer in range(len(all_layers_logits) - 1):
                layer_losses = self(all_layers_logits[layer], all_layers_boxes[layer], targets,
                                    img_metas)
                losses.update({f'd{layer}.{k}': v for k, v in layer_losses.items()})
        return losses

    @torch.no_grad()
    def assign(self, student_logits: Tensor, student_boxes: Tensor,
               targets: Sequence[InstanceData], img_metas: Sequence[dict]) -> List[AssignResult]:
        """Eq. 10 Hungarian matching of every image; shapes as in :meth:`forward`.

        Returns:
            list[AssignResult]: per image, ``gt_inds`` (m,): 0 = unmatched, j + 1 = matched
            to target j.
        """
        return [
            self._assign_single(*inputs)
            for inputs in zip(student_logits, student_boxes, targets, img_metas)
        ]

    def _assign_single(self, logits: Tensor, boxes: Tensor, targets: InstanceData,
                       img_meta: dict) -> AssignResult:
        # mmdet's BBoxL1Cost / IoUCost take absolute (x1, y1, x2, y2) boxes and divide by
        # img_shape again, as in DETRHead._get_targets_single.
        factor = _img_factor(img_meta, boxes)
        pred = InstanceData(scores=logits.float(),
                            bboxes=bbox_cxcywh_to_xyxy(boxes.float()) * factor)
        gt = targets.clone()
        gt.bboxes = bbox_cxcywh_to_xyxy(targets.bboxes.float()) * factor
        return self.assigner.assign(pred, gt, img_meta)

    def loss_by_assignment(self, student_logits: Tensor, student_boxes: Tensor,
                           targets: Sequence[InstanceData],
                           assign_results: Sequence[AssignResult],
                           img_metas: Sequence[dict]) -> dict:
        """Eq. 11 for a given matching; shapes as in :meth:`forward`."""
        head, temperature = targets[0].head, targets[0].temperature
        probs, boxes, conf, labels, matched = self._dense_targets(student_logits, targets,
                                                                  assign_results)
        logits = student_logits.flatten(0, 1)
        pred_boxes = student_boxes.flatten(0, 1).float()
        cls_avg, box_avg = self._normalizers(conf, matched)
        weight = conf if self.conf_weighting else matched.float()  # (B·m,), 0 when unmatched

        # Every query goes through the same computation with weight 0 when unmatched (as in
        # DETRHead): the result always has a grad_fn into both inputs, which DDP needs.
        if self.cls_loss is not None:
            loss_cls = self.cls_weight * self._hard_label_cls(
                logits, labels, weight, matched, head, box_avg if head == 'sigmoid' else cls_avg)
        else:
            cls_sum = (weight * soft_kl(probs, logits, head, temperature)).sum()
            if self.unmatched == 'background':
                bg = background_target(head, logits.shape[-1], logits).expand_as(logits)
                bg_weight = self.bg_weight * (~matched).float()
                cls_sum = cls_sum + (bg_weight * soft_kl(bg, logits, head, 1.0)).sum()
            loss_cls = self.cls_weight * cls_sum / cls_avg

        loss_l1 = l1_loss(pred_boxes, boxes, weight=weight.unsqueeze(1), avg_factor=box_avg)
        factors = torch.cat([
            _img_factor(meta, pred_boxes).expand(student_boxes.shape[1], 4) for meta in img_metas
        ])
        loss_giou = giou_loss(bbox_cxcywh_to_xyxy(pred_boxes) * factors,
                              bbox_cxcywh_to_xyxy(boxes) * factors,
                              weight=weight, avg_factor=box_avg)
        return dict(
            loss_ta_cls=loss_cls,
            loss_ta_bbox=self.box_weight * self.l1_weight * loss_l1,
            loss_ta_iou=self.box_weight * self.giou_weight * loss_giou)

    def _hard_label_cls(self, logits: Tensor, labels: Tensor, weight: Tensor, matched: Tensor,
                        head: str, avg_factor: Tensor) -> Tensor:
        """``cls_loss`` on the targets' argmax labels, as ``DETRHead``'s ``loss_cls``.

        Args:
            logits (Tensor): (B·m, K) student logits.
            labels (Tensor): (B·m,) target labels of matched queries, anything elsewhere.
            weight (Tensor): (B·m,) matched pairs' weights, 0 when unmatched.
            matched (Tensor): (B·m,) bool.
            head (str): the targets' head kind.
            avg_factor (Tensor): the normaliser, a scalar.
        """
        sigmoid_loss = bool(getattr(self.cls_loss, 'use_sigmoid', False))
        if sigmoid_loss != (head == 'sigmoid'):
            raise ValueError(
                f'cls_loss {type(self.cls_loss).__name__}(use_sigmoid={sigmoid_loss}) does not '
                f'fit {head} targets; use use_sigmoid={head == "sigmoid"}.')
        # mmdet's label for "no object": num_classes for sigmoid losses (all-zero one-hot),
        # the last (background) column for softmax ones.
        background = logits.shape[-1] if head == 'sigmoid' else logits.shape[-1] - 1
        labels = torch.where(matched, labels, torch.full_like(labels, background))
        bg_weight = self.bg_weight if self.unmatched == 'background' else 0.0
        label_weights = weight + bg_weight * (~matched).float()
        return self.cls_loss(logits.float(), labels, label_weights, avg_factor=avg_factor)

    def _dense_targets(self, student_logits: Tensor, targets: Sequence[InstanceData],
                       assign_results: Sequence[AssignResult]) -> Tuple[Tensor, ...]:
        """Targets laid out per student query, flattened over the batch.

        Returns:
            tuple[Tensor]: probs (B·m, K), boxes (B·m, 4) normalised cxcywh, conf (B·m,),
            labels (B·m,) long and matched (B·m,) bool; unmatched queries have zero probs,
            boxes, conf and labels.
        """
        batch, num_queries, width = student_logits.shape
        probs = student_logits.new_zeros((batch, num_queries, width), dtype=torch.float32)
        boxes = student_logits.new_zeros((batch, num_queries, 4), dtype=torch.float32)
        conf = student_logits.new_zeros((batch, num_queries), dtype=torch.float32)
        labels = student_logits.new_zeros((batch, num_queries), dtype=torch.long)
        for b, (image_targets, result) in enumerate(zip(targets, assign_results)):
            query = torch.nonzero(result.gt_inds > 0).squeeze(1)
            target = result.gt_inds[query] - 1
            probs[b, query] = image_targets.probs[target].float()
            boxes[b, query] = image_targets.bboxes[target].float()
            conf[b, query] = image_targets.scores[target].float()
            labels[b, query] = image_targets.labels[target].long()
        matched = torch.stack([result.gt_inds > 0 for result in assign_results])
        return (probs.flatten(0, 1), boxes.flatten(0, 1), conf.flatten(), labels.flatten(),
                matched.flatten())

    def _normalizers(self, conf: Tensor, matched: Tensor) -> Tuple[Tensor, Tensor]:
        """N_cls and N_box, averaged over DDP ranks (one all-reduce) and clamped to >= 1."""
        num_pos = conf.sum() if self.normalizer == 'conf_sum' else matched.sum().float()
        neg_weight = self.bg_weight if self.unmatched == 'background' else 0.0
        avg = torch.stack([num_pos + neg_weight * (~matched).sum(), num_pos])
        avg = reduce_mean(avg.detach()).clamp(min=1)
        return avg[0], avg[1]

    def _check_inputs(self, student_logits: Tensor, student_boxes: Tensor,
                      targets: Sequence[InstanceData], img_metas: Sequence[dict]) -> None:
        if student_logits.dim() != 3:
            raise ValueError(f'student_logits must be (B, m, K), got shape '
                             f'{tuple(student_logits.shape)}.')
        if tuple(student_boxes.shape) != (*student_logits.shape[:2], 4):
            raise ValueError(f'student_boxes have shape {tuple(student_boxes.shape)}; '
                             f'expected {(*student_logits.shape[:2], 4)}.')
        batch, width = student_logits.shape[0], student_logits.shape[2]
        if len(targets) != batch or len(img_metas) != batch:
            raise ValueError(f'Got {len(targets)} target sets and {len(img_metas)} image metas '
                             f'for a batch of {batch}.')
        for b, image_targets in enumerate(targets):
            if not isinstance(image_targets, InstanceData):
                raise TypeError(f'targets[{b}] is a {type(image_targets).__name__}; pass the '
                                'InstanceData list that SoftTargetBuilder returns.')
            if image_targets.probs.shape[1] != width:
                raise ValueError(
                    f'Student logits have {width} columns but targets[{b}] come from '
                    f'{image_targets.head} teachers with {image_targets.probs.shape[1]}; the '
                    'student needs the same head kind and classes as the soft targets '
                    '(softmax: |C|+1 with background, sigmoid: |C|).')
