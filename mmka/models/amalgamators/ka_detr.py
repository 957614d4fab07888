"""Knowledge amalgamation of DETR teachers into one extended student (paper §III, eq. 12)."""
from contextlib import nullcontext
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ...datasets.partitions import check_partition
from ..amalgamation_hooks.recorder import OutputRecorder
from ..amalgamation_hooks.sequence_utils import feature_levels, neck_tokens
from .base_distiller import FrozenTeacherDistiller, run_detector, run_encoder


@MODELS.register_module()
class KADETRAmalgamator(FrozenTeacherDistiller):
    """Trains a student detecting all ``classes`` from N teachers on disjoint class subsets.

    L = λ_d · L_d + Σ_hooks (SA: λ_seq · L_seq, TA: λ_task · L_task, ...)   (eq. 12)

    Each step runs the teachers once under ``torch.no_grad`` (in eval mode, and only as far
    as some hook reads: the decoder and head are skipped when no hook needs predictions), or
    replays what they recorded for these images from ``teacher_cache``, then the student — with its ground-truth loss L_d when ``gt_loss_weight > 0``, a plain
    forward otherwise (label-free mode: images need no annotations) — and collects the
    hooks' loss terms from what their forward hooks recorded. With a redundancy-compressing
    student, the teachers' concatenated input projections X_T guide P_slim during training
    (§III-B3), unless its ``compression.train_guide='student'``; with
    ``compression.eval_guide='teachers'`` (a diagnostic) they guide evaluation too.

    Loss keys: ``gt.*`` (the student's own DETR losses times λ_d), the hooks' keys
    (``loss_sa_*``, ``loss_ta_*``), all scaled by :attr:`amalgamation_scale` except ``gt.*``
    (see :class:`AmalgamationLossDecayHook`).

    Args:
        student (dict): student config, e.g. a ``KADETRStudent`` with ``num_teachers=N``.
        teachers (Sequence[dict]): ``dict(config=..., checkpoint=..., classes=None)`` each.
        classes (Sequence[str]): the student's classes (the dataset's), in label order;
            every teacher class must be among them, and teachers must not share classes.
        hooks (Sequence[dict]): amalgamation hooks, e.g.
            ``[dict(type='SequenceAmalgamation'), dict(type='TaskAmalgamation')]``.
        gt_loss_weight (float): λ_d. Default 0.1 (paper); 0 for label-free training.
        **options: ``teacher_dtype``, ``teacher_channels_last``, ``teacher_cache``
            (see :class:`FrozenTeacherDistiller`): how cheaply the teachers run, or whether
            their recorded outputs are read from a cache instead; ``student_checkpoint``:
            the weights the student starts from (default: from scratch).
    """

    def __init__(self,
                 student: dict,
                 teachers: Sequence[dict],
                 classes: Sequence[str],
                 hooks: Sequence[dict] = (),
                 gt_loss_weight: float = 0.1,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **options) -> None:
        super().__init__(student, teachers, data_preprocessor, init_cfg, **options)
        self.classes = tuple(classes)
        check_partition(self.teacher_classes, self.classes)
        num_classes = self.student.bbox_head.num_classes
        if num_classes != len(self.classes):
            raise ValueError(f'The student head has {num_classes} classes but classes lists '
                             f'{len(self.classes)}; set bbox_head.num_classes=len(classes).')
        if gt_loss_weight < 0:
            raise ValueError(f'gt_loss_weight must be >= 0, got {gt_loss_weight}.')
        self.gt_loss_weight = gt_loss_weight
        self.hooks = nn.ModuleList([MODELS.build(dict(h)) for h in hooks])
        for hook in self.hooks:
            hook.setup(self.student, self.teacher_list, self.classes, self.teacher_classes)
        #: Multiplies every hook loss; AmalgamationLossDecayHook lowers it during training.
        self.amalgamation_scale = 1.0
        compressor = getattr(self.student, 'compressor', None)
        #: Whether training / evaluation choose P_slim on the teachers' X_T.
        self._train_guided = compressor is not None and compressor.wants_teacher_guide
        self._eval_guided = compressor is not None and compressor.wants_teacher_guide_at_eval
        self._guide_recorders = [OutputRecorder(t, ['neck']) for t in self.teacher_list] \
            if self._train_guided or self._eval_guided else []
        self._teachers_need_head = any(
            'bbox_head' in hook.teacher_modules(t) for hook in self.hooks
            for t in self.teacher_list)
        self.attach_teacher_cache([
            [hook.teacher_recorders[i] for hook in self.hooks] +
            (self._guide_recorders[i:i + 1] if self._train_guided else [])
            for i in range(len(self.teacher_list))])

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        self.run_teachers(inputs, data_samples, self._run_teacher)
        losses = {}
        with self._compression_guide() if self._train_guided else nullcontext():
            if self.gt_loss_weight > 0:
                gt_losses = self.student.loss(inputs, data_samples)
                losses.update({f'gt.{k}': v * self.gt_loss_weight
                               for k, v in gt_losses.items()})
            else:
                run_detector(self.student, inputs, data_samples)
        for hook in self.hooks:
            losses.update({k: v * self.amalgamation_scale
                           for k, v in hook.loss(self.student, data_samples).items()})
            hook.clear()
        for recorder in self._guide_recorders:
            recorder.clear()
        return losses

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """The student's predictions; with ``compression.eval_guide='teachers'`` (a
        diagnostic) the teachers' projections of this batch choose P_slim, as in training.
        The teacher cache is not read: it holds training images."""
        if not self._eval_guided:
            return self.student.predict(inputs, data_samples)
        try:
            with self.teacher_context():
                teacher_inputs = self.teacher_inputs(inputs)
                for teacher in self.teacher_list:  # the guide recorders hook the necks
                    teacher.extract_feat(teacher_inputs)
            with self._compression_guide():
                return self.student.predict(inputs, data_samples)
        finally:
            for recorder in self._guide_recorders:
                recorder.clear()

    def _run_teacher(self, teacher: nn.Module, inputs: Tensor,
                     data_samples: SampleList) -> None:
        """Forward a teacher only as far as the hooks read (outputs go to the recorders)."""
        if self._teachers_need_head:
            run_detector(teacher, inputs, data_samples)
        else:
            run_encoder(teacher, inputs, data_samples)

    def _compression_guide(self):
        """Context in which the student compresses on X_T = X_t^1 ⊕ ... ⊕ X_t^N."""
        if not self._guide_recorders:
            return nullcontext()
        levels = feature_levels(self.student)
        guide = torch.cat([neck_tokens(r['neck'], levels) for r in self._guide_recorders],
                          dim=1)
        return self.student.compression_guide(guide)
