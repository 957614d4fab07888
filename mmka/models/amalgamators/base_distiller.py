"""A student trained from frozen teachers: the model the Runner sees (KA and KD alike)."""
from abc import abstractmethod
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseModel
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from .teachers import build_frozen_teacher

TEACHERS_KEY = 'teachers.'


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
    """

    def __init__(self,
                 student: dict,
                 teachers: Sequence[dict],
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
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
        self._register_state_dict_hook(_drop_teacher_weights)
        self.register_load_state_dict_post_hook(_ignore_missing_teacher_weights)

    @property
    def teacher_list(self) -> List[nn.Module]:
        return [self.teachers[str(i)] for i in range(len(self.teachers))]

    def train(self, mode: bool = True) -> 'FrozenTeacherDistiller':
        super().train(mode)
        self.teachers.eval()  # dropout off and BatchNorm statistics fixed, always
        return self

    def init_weights(self) -> None:
        self.student.init_weights()

    def forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.student.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.student._forward(inputs, data_samples)
        raise ValueError(f'Invalid mode {mode!r}; use "loss", "predict" or "tensor".')

    @abstractmethod
    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """The training losses of one batch (defined by each distillation method)."""


def run_detector(detector: nn.Module, inputs: Tensor, data_samples: SampleList):
    """A DETR's raw head outputs, (L, B, m, K) logits and (L, B, m, 4) boxes.

    Like mmdet's ``DETR._forward``, but calls the head as a module (``bbox_head(...)``
    rather than ``bbox_head.forward(...)``) so that forward hooks on it fire.
    """
    feats = detector.extract_feat(inputs)
    head_inputs = detector.forward_transformer(feats, data_samples)
    return detector.bbox_head(**head_inputs)


def _drop_teacher_weights(module, state_dict: OrderedDict, prefix: str, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix + TEACHERS_KEY)]:
        del state_dict[key]
    return state_dict


def _ignore_missing_teacher_weights(module, incompatible_keys) -> None:
    missing = incompatible_keys.missing_keys
    missing[:] = [k for k in missing if not k.startswith(TEACHERS_KEY)
                  and f'.{TEACHERS_KEY}' not in k]
