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
from ..amalgamation_hooks.task_amalgamation import head_kind
from ..task_modules import SoftTargetBuilder, targets_as_samples
from .base_distiller import FrozenTeacherDistiller, run_detector, run_encoder


@MODELS.register_module()
class KADETRAmalgamator(FrozenTeacherDistiller):
    """Trains a student detecting all ``classes`` from N teachers on disjoint class subsets.

    L = λ_d · L_d + Σ_hooks (SA: λ_seq · L_seq, TA: λ_task · L_task, ...)   (eq. 12)

    Each step runs the teachers once under ``torch.no_grad`` (in eval mode, and only as far
    as some hook reads: the decoder and head are skipped when no hook needs predictions), or
    replays what they recorded for these images from ``teacher_cache``, then the student —
    with its ground-truth loss L_d when ``gt_loss_weight > 0``, a plain forward otherwise
    (label-free mode: images need no annotations) — and collects the
    hooks' loss terms from what their forward hooks recorded. With a redundancy-compressing
    student, the teachers' concatenated input projections X_T guide P_slim during training
    (§III-B3), unless its ``compression.train_guide='student'``; with
    ``compression.eval_guide='teachers'`` (a diagnostic) they guide evaluation too.

    With ``pseudo_labels``, L_d is computed on the teachers' confident predictions instead
    of the annotations (each target's most probable class and box as a label; mmka's option,
    not the paper's): no annotation is read, as in label-free mode, but the student's own
    loss terms that only labels can drive keep a source, e.g. DINO's denoising queries,
    which are built from the labelled boxes. ``gt_losses`` keeps some of L_d's terms only.

    Loss keys: ``gt.*`` (the student's own DETR losses times λ_d; ``pseudo.*`` with
    ``pseudo_labels``), the hooks' keys (``loss_sa_*``, ``loss_ta_*``), all scaled by
    :attr:`amalgamation_scale` except ``gt.*`` / ``pseudo.*``
    (see :class:`AmalgamationLossDecayHook`).

    Args:
        student (dict): student config, e.g. a ``KADETRStudent`` with ``num_teachers=N``.
        teachers (Sequence[dict]): ``dict(config=..., checkpoint=..., classes=None)`` each.
        classes (Sequence[str]): the student's classes (the dataset's), in label order;
            every teacher class must be among them, and teachers must not share classes.
        hooks (Sequence[dict]): amalgamation hooks, e.g.
            ``[dict(type='SequenceAmalgamation'), dict(type='TaskAmalgamation')]``.
        gt_loss_weight (float): λ_d. Default 0.1 (paper); 0 for label-free training.
        pseudo_labels (dict, optional): compute L_d on the teachers' last-layer targets, built
            by :class:`SoftTargetBuilder` with these options (e.g. ``dict(score_thr=0.5)``),
            instead of the annotations. Needs ``gt_loss_weight > 0``. Default None: labels.
        gt_losses (Sequence[str], optional): the terms of L_d to keep, by name without the
            decoder-layer prefix (e.g. ``('dn_loss_cls', 'dn_loss_bbox', 'dn_loss_iou')``
            keeps DINO's denoising terms of every layer). Default None: all of them.
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
                 pseudo_labels: Optional[dict] = None,
                 gt_losses: Optional[Sequence[str]] = None,
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
        if (pseudo_labels is not None or gt_losses is not None) and gt_loss_weight == 0:
            raise ValueError('pseudo_labels and gt_losses choose what L_d is computed on, '
                             'but gt_loss_weight=0 never computes it; set gt_loss_weight '
                             '> 0 (λ_d) or remove them.')
        if isinstance(gt_losses, str):
            raise TypeError(f'gt_losses must be a list of loss names, got {gt_losses!r}; '
                            f'write [{gt_losses!r}].')
        self.gt_losses = None if gt_losses is None else tuple(gt_losses)
        #: Builds the pseudo-labels from the teachers' last layer, read by its own
        #: recorders (the hooks may record other layers, or none of the head).
        self.pseudo_labeler = None if pseudo_labels is None else SoftTargetBuilder(
            self.classes, self.teacher_classes, head=head_kind(self.student),
            **pseudo_labels)
        self._label_recorders = [] if pseudo_labels is None else [
            OutputRecorder(t, ['bbox_head']) for t in self.teacher_list]
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
        self._teachers_need_head = bool(self._label_recorders) or any(
            'bbox_head' in hook.teacher_modules(t) for hook in self.hooks
            for t in self.teacher_list)
        self.attach_teacher_cache([
            [hook.teacher_recorders[i] for hook in self.hooks] +
            (self._guide_recorders[i:i + 1] if self._train_guided else []) +
            self._label_recorders[i:i + 1]
            for i in range(len(self.teacher_list))])

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        self.run_teachers(inputs, data_samples, self._run_teacher)
        losses = {}
        with self._compression_guide() if self._train_guided else nullcontext():
            if self.gt_loss_weight > 0:
                prefix, samples = 'gt', data_samples
                if self.pseudo_labeler is not None:
                    prefix, samples = 'pseudo', self._pseudo_labelled(data_samples)
                gt_losses = self._kept(self.student.loss(inputs, samples))
                losses.update({f'{prefix}.{k}': v * self.gt_loss_weight
                               for k, v in gt_losses.items()})
            else:
                run_detector(self.student, inputs, data_samples)
        for hook in self.hooks:
            losses.update({k: v * self.amalgamation_scale
                           for k, v in hook.loss(self.student, data_samples).items()})
            hook.clear()
        for recorder in self._guide_recorders + self._label_recorders:
            recorder.clear()
        return losses

    def _pseudo_labelled(self, data_samples: SampleList) -> SampleList:
        """The batch's samples annotated with the teachers' targets, not its labels."""
        outs = [recorder['bbox_head'] for recorder in self._label_recorders]
        targets = self.pseudo_labeler([cls[-1] for cls, _ in outs],
                                      [boxes[-1] for _, boxes in outs])
        return targets_as_samples(targets, data_samples)

    def _kept(self, gt_losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The terms of L_d that ``gt_losses`` names (all of them if it is None).

        Raises:
            ValueError: a name that is none of the student's loss terms.
        """
        if self.gt_losses is None:
            return gt_losses
        names = {key.rsplit('.', 1)[-1] for key in gt_losses}
        unknown = sorted(set(self.gt_losses) - names)
        if unknown:
            raise ValueError(f'gt_losses names {unknown}, which the student\'s loss does not '
                             f'return; its terms are {sorted(names)} (without the '
                             'decoder-layer prefix).')
        return {k: v for k, v in gt_losses.items() if k.rsplit('.', 1)[-1] in self.gt_losses}

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
