"""Task-level amalgamation (TA, paper §III-C): Hungarian distillation from pooled teachers."""
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..task_modules import SoftTargetBuilder
from .base import AmalgamationHook


def head_kind(detector: nn.Module) -> str:
    """``'sigmoid'`` for focal/sigmoid heads (Conditional/DAB-DETR), else ``'softmax'``."""
    return 'sigmoid' if getattr(detector.bbox_head.loss_cls, 'use_sigmoid', False) \
        else 'softmax'


@MODELS.register_module()
class TaskAmalgamation(AmalgamationHook):
    """The student mimics the teachers' pooled soft predictions (eqs. 9-11).

    Records the output of every ``bbox_head`` forward — per-layer class logits
    (L, B, m, K) and normalised (cx, cy, w, h) boxes (L, B, m, 4) — pads the teachers'
    last-layer predictions to the student's classes by name, keeps the confident ones
    (:class:`SoftTargetBuilder`), matches them to the student's queries and applies
    :class:`TaskAmalgamationLoss`.

    Args:
        targets (dict, optional): options of :class:`SoftTargetBuilder` (``pad``,
            ``floor_logit``, ``temperature``, ``score_thr``, ``max_targets``).
        loss (dict, optional): config of the loss, default ``dict(type='TaskAmalgamationLoss')``
            (paper weights; its ``assigner`` holds the eq. 10 α's).
        aux_layers (bool): also distil every auxiliary decoder layer of the student against
            the same targets (matched per layer). Default False: the last layer only.
        loss_weight (float): λ_task. Default 1.0 (paper).
    """

    def __init__(self, targets: Optional[dict] = None, loss: Optional[dict] = None,
                 aux_layers: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.target_cfg = dict(targets or {})
        self.criterion = MODELS.build(dict(loss or dict(type='TaskAmalgamationLoss')))
        self.aux_layers = aux_layers
        self.loss_weight = loss_weight

    def setup(self, student: nn.Module, teachers: Sequence[nn.Module],
              student_classes: Sequence[str], teacher_classes: Sequence[Sequence[str]]) -> None:
        kinds = {head_kind(t) for t in teachers}
        kind = head_kind(student)
        if kinds != {kind}:
            raise ValueError(f'TA needs teachers and student with the same head kind; teachers '
                             f'have {sorted(kinds)}, the student {kind!r}.')
        self.builder = SoftTargetBuilder(student_classes, teacher_classes, head=kind,
                                         **self.target_cfg)
        super().setup(student, teachers, student_classes, teacher_classes)

    def student_modules(self, student: nn.Module) -> List[str]:
        return ['bbox_head']

    def teacher_modules(self, teacher: nn.Module) -> List[str]:
        return ['bbox_head']

    def loss(self, student: nn.Module, data_samples: SampleList) -> Dict[str, Tensor]:
        teacher_outs = [rec['bbox_head'] for rec in self.teacher_recorders]
        targets = self.builder([cls[-1] for cls, _ in teacher_outs],
                               [box[-1] for _, box in teacher_outs])
        all_cls, all_boxes = self.student_recorder['bbox_head']
        metas = [s.metainfo for s in data_samples]
        if self.aux_layers:
            losses = self.criterion.loss_by_layers(all_cls, all_boxes, targets, metas)
        else:
            losses = self.criterion(all_cls[-1], all_boxes[-1], targets, metas)
        return {k: v * self.loss_weight for k, v in losses.items()}
