"""A student trained from frozen teachers: the model the Runner sees (KA and KD alike)."""
from abc import abstractmethod
from collections import OrderedDict
from contextlib import ExitStack, contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch import Tensor

from mmdet.models.detectors import DeformableDETR
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..amalgamation_hooks.recorder import OutputRecorder
from ..teacher_cache import TeacherOutputCache
from .student_start import load_student_start
from .teachers import build_frozen_teacher

TEACHERS_KEY = 'teachers.'
TEACHER_DTYPES = (None, 'bfloat16', 'float16')


def check_teacher_dtype(teacher_dtype: Optional[str]) -> Optional[str]:
    """``teacher_dtype`` if it is one of :data:`TEACHER_DTYPES`, else a ValueError."""
    if teacher_dtype not in TEACHER_DTYPES:
        raise ValueError(f'teacher_dtype must be one of {TEACHER_DTYPES}, got '
                         f'{teacher_dtype!r}.')
    return teacher_dtype


def teacher_context(device: torch.device, teacher_dtype: Optional[str] = None) -> ExitStack:
    """No autograd state, and autocast in ``teacher_dtype`` on ``device`` unless it is None.

    What every teacher forward runs under (:meth:`FrozenTeacherDistiller.teacher_context`);
    analysis code that runs teachers outside an amalgamator uses it to match training.
    """
    check_teacher_dtype(teacher_dtype)
    stack = ExitStack()
    stack.enter_context(torch.no_grad())
    if teacher_dtype is not None:
        stack.enter_context(torch.autocast(device.type, dtype=getattr(torch, teacher_dtype)))
    return stack


class FrozenTeacherDistiller(BaseModel):
    """Owns a trainable ``student`` and an ``nn.ModuleDict`` of frozen ``teachers``.

    Teachers are built and loaded from their own checkpoints here, in ``__init__``, so the
    Runner's ``init_weights`` (which only initialises the student) and ``load_from`` /
    ``--resume`` (which restore the student) never touch them. They stay in eval mode
    whatever ``train()`` is called with, have ``requires_grad=False`` and, since their
    weights live in their own checkpoints, are left out of this model's ``state_dict``:
    amalgamation checkpoints hold the student only (plus optimizer state). ``predict`` and
    ``_forward`` delegate to the student, so ``tools/test.py`` evaluates the student.

    Args:
        student (dict): the student's model config.
        teachers (Sequence[dict]): one ``dict(config=..., checkpoint=..., classes=None)`` per
            teacher; see :func:`build_frozen_teacher`.
        data_preprocessor (dict, optional): default: the student's.
        teacher_dtype (str, optional): run the teachers under ``torch.autocast`` with this
            dtype (``'bfloat16'`` or ``'float16'``). Default None: the ambient precision,
            i.e. reduced precision under an AMP optim wrapper, float32 otherwise. On CPUs
            with native bf16 (AVX512-BF16 / AMX), ``'bfloat16'`` halves the teachers'
            cost; elsewhere it is emulated and slower. Teacher outputs are only targets,
            and every loss casts them to float32.
        teacher_channels_last (bool): store the teachers' weights and feed their
            convolutions in ``torch.channels_last`` memory format (faster convolutions
            with oneDNN / cuDNN; the same arithmetic). Default False.
        teacher_cache (dict, optional): store what is recorded from the teachers per image
            and read it back instead of running them, e.g. ``dict(dir='work_dirs/cache',
            dtype='float16', mode='deterministic')``; see :class:`TeacherOutputCache`.
            Needs a training pipeline without random transforms (checked by
            :class:`TeacherCacheHook`). Default None: the teachers run every step.
        student_checkpoint (str, optional): a plain checkpoint of the student's detector
            family that the student starts from, e.g. a pre-training: loaded by
            :meth:`init_weights` after the student's own initialisation, wherever names and
            shapes fit (:func:`load_student_start`). Training from ``load_from`` or a resume
            overrides it, as it does every initialisation. Default None: from scratch.
    """

    def __init__(self,
                 student: dict,
                 teachers: Sequence[dict],
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 teacher_dtype: Optional[str] = None,
                 teacher_channels_last: bool = False,
                 teacher_cache: Optional[dict] = None,
                 student_checkpoint: Optional[str] = None) -> None:
        if isinstance(teachers, dict) or not teachers:
            raise TypeError('teachers must be a non-empty list of dict(config=..., '
                            f'checkpoint=..., classes=None), got {teachers!r}.')
        student = dict(student)
        if data_preprocessor is None:
            data_preprocessor = student.get('data_preprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        # The distiller preprocesses the batch once for teachers and student.
        student.pop('data_preprocessor', None)
        self.student = MODELS.build(student)
        built = [build_frozen_teacher(**dict(t)) for t in teachers]
        self.teachers = nn.ModuleDict({str(i): model for i, (model, _) in enumerate(built)})
        self.teacher_classes: List[tuple] = [classes for _, classes in built]
        self.teacher_dtype = check_teacher_dtype(teacher_dtype)
        self.teacher_channels_last = teacher_channels_last
        if teacher_channels_last:
            self.teachers.to(memory_format=torch.channels_last)
        if teacher_cache is not None and not isinstance(teacher_cache, dict):
            raise TypeError('teacher_cache must be a dict(dir=..., dtype=..., mode=...) or '
                            f'None, got {type(teacher_cache).__name__}.')
        #: Bound to the recorders by the subclass (:meth:`attach_teacher_cache`).
        self.teacher_cache = None if teacher_cache is None else TeacherOutputCache(
            teachers=[dict(t) for t in teachers], teacher_dtype=teacher_dtype,
            teacher_channels_last=teacher_channels_last, **teacher_cache)
        self.student_checkpoint = student_checkpoint
        self._register_state_dict_hook(_drop_teacher_weights)
        self.register_load_state_dict_post_hook(_ignore_missing_teacher_weights)

    def teacher_inputs(self, inputs: Tensor) -> Tensor:
        """The batch as the teachers read it, (B, 3, H, W) (channels-last if configured)."""
        if self.teacher_channels_last:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def teacher_context(self) -> ExitStack:
        """Context for teacher forwards: no autograd state, and ``teacher_dtype`` autocast.

        ``torch.no_grad`` rather than ``inference_mode``: the recorded teacher tensors are
        used in the student's autograd graph (as loss targets), which inference tensors
        cannot be.
        """
        return teacher_context(next(self.student.parameters()).device, self.teacher_dtype)

    def attach_teacher_cache(self, recorders: Sequence[Sequence[OutputRecorder]]) -> None:
        """Cache what ``recorders[i]`` (every recorder on teacher i) record, if configured.

        Raises:
            ValueError: a multi-scale teacher (Deformable DETR, DINO) whose call arguments
                are recorded: they include the level layout (``spatial_shapes``,
                ``level_start_index``), which has no batch dimension to split per image.
        """
        if self.teacher_cache is None:
            return
        for teacher, own in zip(self.teacher_list, recorders):
            if hasattr(teacher, 'num_feature_levels') and any(r.with_kwargs for r in own):
                raise ValueError(
                    f'teacher_cache is not supported for what this method reads from a '
                    f'{type(teacher).__name__} teacher: its encoder call carries the level '
                    'layout (spatial_shapes), which the per-image cache cannot store. Remove '
                    'teacher_cache from the model config.')
        self.teacher_cache.attach(recorders)

    def run_teachers(self, inputs: Tensor, data_samples: SampleList,
                     forward: Callable[[nn.Module, Tensor, SampleList], None]) -> None:
        """``forward(teacher, inputs, data_samples)`` for every teacher, under
        :meth:`teacher_context`, or the recorded outputs from the teacher cache.

        ``forward`` runs a teacher as far as its recorders need; the caller reads the
        outputs from the recorders, which the cache fills the same way.
        """
        with self.teacher_context():
            if self.teacher_cache is None:
                teacher_inputs = self.teacher_inputs(inputs)
                for teacher in self.teacher_list:
                    forward(teacher, teacher_inputs, data_samples)
                return

            def run_teacher(i: int, indices: List[int]) -> None:
                subset = inputs if len(indices) == len(data_samples) else inputs[indices]
                forward(self.teacher_list[i], self.teacher_inputs(subset),
                        [data_samples[b] for b in indices])

            self.teacher_cache.run(data_samples, inputs.device, run_teacher)

    @property
    def teacher_list(self) -> List[nn.Module]:
        return [self.teachers[str(i)] for i in range(len(self.teachers))]

    def train(self, mode: bool = True) -> 'FrozenTeacherDistiller':
        super().train(mode)
        self.teachers.eval()  # dropout off and BatchNorm statistics fixed, always
        return self

    def init_weights(self) -> None:
        """Initialise the student (the teachers hold their checkpoints' weights), then load
        ``student_checkpoint`` into it if given."""
        self.student.init_weights()
        if self.student_checkpoint is not None:
            load_student_start(self.student, self.student_checkpoint)

    def forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.student._forward(inputs, data_samples)
        raise ValueError(f'Invalid mode {mode!r}; use "loss", "predict" or "tensor".')

    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """The student's predictions (the teachers are not run)."""
        return self.student.predict(inputs, data_samples)

    @abstractmethod
    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """The training losses of one batch (defined by each distillation method)."""


def run_detector(detector: nn.Module, inputs: Tensor, data_samples: SampleList):
    """A DETR's raw head outputs, (L, B, m, K) logits and (L, B, m, 4) boxes.

    Like mmdet's ``DETR._forward``, but calls the head as a module (``bbox_head(...)``
    rather than ``bbox_head.forward(...)``) so that forward hooks on it fire. It reads no
    annotation, in training mode too: a multi-scale detector (Deformable DETR, DINO) builds
    its decoder queries as at inference (:func:`detection_transformer`), so ``m`` is its
    ``num_queries`` detection queries, without DINO's denoising queries.
    """
    feats = detector.extract_feat(inputs)
    head_inputs = detection_transformer(detector, feats, data_samples)
    return detector.bbox_head(**head_inputs)


def detection_transformer(detector: nn.Module, feats, data_samples: SampleList) -> Dict:
    """``detector.forward_transformer`` without ground truth: the head's inputs
    (``hidden_states``, ``references``) of the detection queries only.

    In training mode, mmdet's ``DeformableDETR.pre_decoder`` also returns the two-stage
    encoder outputs its loss reads (the head's ``forward`` takes no such argument), and
    ``DINO.pre_decoder`` prepends denoising queries built from the ground-truth boxes and
    labels of ``data_samples``. Here ``pre_decoder`` runs with the detector's own
    ``training`` flag off (its submodules keep their mode; in mmdet 3.3 that flag selects
    only these two things there), so the queries are the detection queries alone, exactly
    those of the training forward: DINO's attention mask keeps detection queries from
    seeing denoising ones, so their outputs are the same with or without them (tested).
    Everything else (backbone, encoder, compression, decoder) runs in the detector's mode.
    Other detectors: their own ``forward_transformer`` (which reads no annotation).
    """
    if not (detector.training and isinstance(detector, DeformableDETR)):
        return detector.forward_transformer(feats, data_samples)
    encoder_inputs, decoder_inputs = detector.pre_transformer(feats, data_samples)
    encoder_outputs = detector.forward_encoder(**encoder_inputs)
    with _detection_queries_only(detector):
        query_inputs, _ = detector.pre_decoder(**encoder_outputs)
    decoder_inputs.update(query_inputs)
    return detector.forward_decoder(**decoder_inputs)


@contextmanager
def _detection_queries_only(detector: nn.Module) -> Iterator[None]:
    """The detector's own ``training`` flag off (not its submodules'), then restored."""
    mode = detector.training
    detector.training = False
    try:
        yield
    finally:
        detector.training = mode


def run_encoder(detector: nn.Module, inputs: Tensor, data_samples: SampleList) -> None:
    """Run a DETR up to its encoder output (what sequence-level hooks and KD-DETR read)."""
    feats = detector.extract_feat(inputs)
    encoder_inputs, _ = detector.pre_transformer(feats, data_samples)
    detector.forward_encoder(**encoder_inputs)


def _drop_teacher_weights(module, state_dict: OrderedDict, prefix: str, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + TEACHERS_KEY)]:
        del state_dict[key]
    return state_dict


def _ignore_missing_teacher_weights(module, incompatible_keys) -> None:
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not k.startswith(TEACHERS_KEY)
                  and f'.{TEACHERS_KEY}' not in k]
