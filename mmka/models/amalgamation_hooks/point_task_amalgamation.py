"""Task-level amalgamation through KD-DETR distillation points instead of Hungarian matching."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..layers.distillation_points import (DistillationPointSampler, check_point_compatible,
                                          decode_points, decoder_call_memory,
                                          recorded_memory)
from ..task_modules import class_index_map
from .base import AmalgamationHook
from .task_amalgamation import head_kind


@MODELS.register_module()
class PointTaskAmalgamation(AmalgamationHook):
    """TA with consistent distillation points (KD-DETR) per teacher; no matching.

    For every teacher t, a group of points is drawn (:class:`DistillationPointSampler`:
    fresh random general points and teacher t's learned queries). Teacher t decodes them over
    its own encoder memory, the student over its extended (or compressed) memory, in decoder
    calls separate from the student's detection queries. Student point i answers the same
    query as teacher point i, so the soft predictions compare one to one with
    :class:`KDDETRLoss` (confidence-weighted KL with temperature + L1 + GIoU, every student
    decoder layer against the teacher's last):

        L_task = λ_task · (1/N) Σ_t KD(student points of t restricted to C^t, teacher t)

    **Classes.** At teacher t's points only the columns of teacher t's classes C^t
    (mapped by name) are distilled — for softmax heads C^t plus background, i.e. the
    student's distribution renormalised over C^t ∪ {∅}. Teacher t knows nothing of the other
    teachers' classes, so the student is not told that an object of another partition at
    such a point is background (which zero-padding to |C| would do); Hungarian TA avoids the
    same conflict by pooling all teachers' predictions.

    The teachers decode their points under ``torch.no_grad`` from their recorded encoder
    memory, cast to float32 (the ambient autocast, e.g. AMP, still applies). Keys:
    ``loss_ta_pts_cls``, ``loss_ta_pts_bbox``, ``loss_ta_pts_iou`` (last layer) and
    ``d{l}.loss_ta_pts_*`` (auxiliary layers, if the loss has ``aux_layers``).

    Args:
        points (dict, optional): options of :class:`DistillationPointSampler`
            (``num_general=300``, ``specific=True``, ``query_sampling``), one sampler used
            for every teacher.
        loss (dict, optional): the point loss, default ``dict(type='KDDETRLoss')``
            (T = 10, class 1, L1 5, GIoU 2, all decoder layers).
        loss_weight (float): λ_task. Default 1.0.
    """

    record_kwargs = True

    def __init__(self, points: Optional[dict] = None, loss: Optional[dict] = None,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.sampler = DistillationPointSampler(**dict(points or {}))
        self.criterion = MODELS.build(dict(loss or dict(type='KDDETRLoss')))
        self.loss_weight = loss_weight

    def setup(self, student: nn.Module, teachers: Sequence[nn.Module],
              student_classes: Sequence[str], teacher_classes: Sequence[Sequence[str]]) -> None:
        self.head = head_kind(student)
        for teacher in teachers:
            check_point_compatible(teacher, student)
            if head_kind(teacher) != self.head:
                raise ValueError(f'Point TA needs teachers and student with the same head '
                                 f'kind; a teacher has {head_kind(teacher)!r}, the student '
                                 f'{self.head!r}.')
        self.teachers = list(teachers)  # plain list: the amalgamator owns them
        background = [len(student_classes)] if self.head == 'softmax' else []
        for t, classes in enumerate(teacher_classes):
            # Student columns of teacher t's logits, in teacher label order (+ background).
            columns = class_index_map(student_classes, classes).tolist() + background
            self.register_buffer(f'columns{t}', torch.tensor(columns), persistent=False)
        super().setup(student, teachers, student_classes, teacher_classes)

    def student_modules(self, student: nn.Module) -> List[str]:
        return ['decoder']  # its call holds the memory the student decodes from

    def teacher_modules(self, teacher: nn.Module) -> List[str]:
        return ['encoder']  # memory = output; its mask and position are call arguments

    def loss(self, student: nn.Module, data_samples: SampleList) -> Dict[str, Tensor]:
        student_memory = decoder_call_memory(self.student_recorder.kwargs['decoder'])
        losses: Dict[str, Tensor] = {}
        for t, (teacher, recorder) in enumerate(zip(self.teachers, self.teacher_recorders)):
            teacher_memory = recorded_memory(recorder)
            with torch.no_grad():
                # Deformable DETR / DINO: the specific points are the teacher's top-k
                # proposals on this batch's memory.
                groups = self.sampler(teacher, len(data_samples), teacher_memory)
                teacher_logits, teacher_boxes = decode_points(teacher, groups, teacher_memory)
            logits, boxes = decode_points(student, groups, student_memory)
            columns = getattr(self, f'columns{t}')
            terms = self.criterion(logits[..., columns], boxes, teacher_logits[-1],
                                   teacher_boxes[-1], self.head)
            for key, value in terms.items():
                key = key.replace('loss_kd', 'loss_ta_pts')
                losses[key] = losses.get(key, 0) + value * (self.loss_weight / len(self.teachers))
        return losses

