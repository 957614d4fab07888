"""KD-DETR: single-teacher distillation with consistent distillation points."""
import copy
from typing import Dict, Optional, Sequence

from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..amalgamation_hooks.recorder import OutputRecorder
from ..amalgamation_hooks.task_amalgamation import head_kind
from ..layers.distillation_points import (DistillationPointSampler, check_point_compatible,
                                          decode_points, encode, recorded_memory)
from .base_distiller import FrozenTeacherDistiller, run_encoder


@MODELS.register_module()
class KDDETRDistiller(FrozenTeacherDistiller):
    """Trains a DETR-family student from one frozen teacher of the same family (KD-DETR).

    L = λ_d · L_d + L_kd. Each step:

    1. the teacher encodes the batch (``torch.no_grad``, eval mode), or its encoder memory
       is read from ``teacher_cache``. Only the memory can be cached: the random general
       points change every step, so the teacher decodes them every step;
    2. the student runs its ordinary detection forward and ground-truth loss L_d — the very
       computation of ``student.loss``, so L_d and its gradients are those of training the
       student alone;
    3. the distillation points are drawn (:class:`DistillationPointSampler`: random general
       points and the teacher's learned queries — for two-stage Deformable DETR / DINO the
       teacher's top-k encoder proposals of this batch), after step 2 so that the
       student's dropout (and DINO's denoising queries) draw the same random numbers as
       without distillation;
    4. teacher and student decode the same point groups over their own encoder memories,
       in decoder calls separate from the detection queries (and from DINO's denoising
       queries: no ``dn_mask``, no ground truth in them) (:func:`decode_points`), and
       :class:`KDDETRLoss` compares every student decoder layer with the teacher's last.

    The student gains no parameters and its inference is untouched: ``predict`` is the
    student's, and a checkpoint holds the student only (plain mmdet weights after
    ``tools/model_converters/extract_student.py``).

    Loss keys: ``gt.*`` (the student's DETR losses times λ_d) and ``loss_kd_*`` /
    ``d{l}.loss_kd_*`` (see :class:`KDDETRLoss`).

    Args:
        student (dict): the student detector (DETR, ConditionalDETR(AnyDim), DABDETR,
            DeformableDETR or DINO(AnyDim)).
        teacher (dict): ``dict(config=..., checkpoint=..., classes=None)``, see
            :func:`build_frozen_teacher`. Same family, embed dims and number of classes as
            the student; backbone and layer counts may differ.
        points (dict, optional): options of :class:`DistillationPointSampler`
            (``num_general=300``, ``specific=True``, ``query_sampling='teacher_stats'``,
            ``box_sizes=(1/32, 1)``).
        loss (dict, optional): the distillation loss, default ``dict(type='KDDETRLoss')``
            (T = 10, class 1, L1 5, GIoU 2, every decoder layer).
        gt_loss_weight (float): λ_d. Default 1 (the student's loss unchanged); 0 trains on
            the teacher alone (no annotations needed; the student's detection queries then
            get no gradient, so DDP needs ``find_unused_parameters=True``).
        classes (Sequence[str], optional): the dataset's classes in label order; if given,
            the teacher's classes must be exactly these.
        **options: ``teacher_dtype``, ``teacher_channels_last``, ``teacher_cache``
            (see :class:`FrozenTeacherDistiller`; no ``teacher_cache`` for Deformable DETR /
            DINO, whose encoder calls carry per-batch level shapes the per-image cache
            cannot split); ``student_checkpoint``: the weights the student starts from.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 points: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 gt_loss_weight: float = 1.0,
                 classes: Optional[Sequence[str]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **options) -> None:
        if not isinstance(teacher, dict):
            raise TypeError('KD-DETR distils one teacher: give teacher=dict(config=..., '
                            f'checkpoint=..., classes=None), got {type(teacher).__name__}.')
        # Deep copy: mmdet's DETRHead writes a tensor class_weight into its loss_cls config,
        # which would break building the same config again (e.g. the plain student).
        super().__init__(copy.deepcopy(student), [teacher], data_preprocessor, init_cfg,
                         **options)
        if gt_loss_weight < 0:
            raise ValueError(f'gt_loss_weight must be >= 0, got {gt_loss_weight}.')
        self.gt_loss_weight = gt_loss_weight
        self.classes = None if classes is None else tuple(classes)
        self.sampler = DistillationPointSampler(**dict(points or {}))
        self._check_compatible()
        self.head_kind = head_kind(self.student)
        self.criterion = MODELS.build(dict(loss or dict(type='KDDETRLoss')))
        # The teacher's memory, its padding mask and positions are the encoder's output and
        # call arguments.
        self._memory_recorder = OutputRecorder(self.teacher, ['encoder'], with_kwargs=True)
        self.attach_teacher_cache([[self._memory_recorder]])

    @property
    def teacher(self):
        return self.teachers['0']

    def _check_compatible(self) -> None:
        teacher, student = self.teacher, self.student
        check_point_compatible(teacher, student, same_classes=True,
                               specific=self.sampler.specific)
        if self.classes is not None and self.classes != self.teacher_classes[0]:
            raise ValueError(f'The teacher classes {self.teacher_classes[0]} differ from '
                             f'classes={self.classes} (names and order must match).')
        kinds = head_kind(teacher), head_kind(student)
        if kinds[0] != kinds[1]:
            raise ValueError(f'Teacher and student heads differ: teacher {kinds[0]!r}, student '
                             f'{kinds[1]!r} (use the same loss_cls kind for both).')

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        self.run_teachers(inputs, data_samples, run_encoder)
        teacher_memory = recorded_memory(self._memory_recorder)
        student_memory, head_inputs = encode(self.student, inputs, data_samples,
                                             queries=self.gt_loss_weight > 0)
        losses = {}
        if self.gt_loss_weight > 0:
            head_inputs.update(self.student.forward_decoder(**student_memory))
            gt_losses = self.student.bbox_head.loss(**head_inputs,
                                                    batch_data_samples=data_samples)
            losses.update({f'gt.{k}': v * self.gt_loss_weight for k, v in gt_losses.items()})
        with self.teacher_context():
            groups = self.sampler(self.teacher, len(data_samples), teacher_memory)
            teacher_logits, teacher_boxes = decode_points(self.teacher, groups, teacher_memory)
        student_logits, student_boxes = decode_points(self.student, groups, student_memory)
        losses.update(self.criterion(student_logits, student_boxes, teacher_logits[-1],
                                     teacher_boxes[-1], self.head_kind))
        self._memory_recorder.clear()
        return losses
