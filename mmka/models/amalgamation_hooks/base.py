"""Common interface of the amalgamator's hooks (SA, SAG, TA, ...)."""
from abc import abstractmethod
from typing import Dict, List, Sequence, Union

import torch.nn as nn
from torch import Tensor

from mmdet.structures import SampleList
from .recorder import OutputRecorder


class AmalgamationHook(nn.Module):
    """A loss term built from tensors recorded in the teachers' and the student's forward.

    The amalgamator calls :meth:`setup` once (the hook registers forward hooks on the named
    submodules it needs), runs teachers and student on each batch, then calls :meth:`loss`
    and :meth:`clear`. A hook may own trainable parameters (e.g. SAG's projections); they are
    optimised with the student. Keys of the returned dict must contain ``'loss'`` to be
    summed by mmengine. A hook that needs the keyword arguments of the recorded calls sets
    :attr:`record_kwargs`.
    """

    #: Whether the recorders also keep each recorded call's keyword arguments.
    record_kwargs = False

    def setup(self, student: nn.Module, teachers: Sequence[nn.Module],
              student_classes: Sequence[str], teacher_classes: Sequence[Sequence[str]]) -> None:
        """Check compatibility and register forward hooks (called once)."""
        self.student_recorder = OutputRecorder(student, self.student_modules(student),
                                               self.record_kwargs)
        self.teacher_recorders: List[OutputRecorder] = [
            OutputRecorder(t, self.teacher_modules(t), self.record_kwargs) for t in teachers]

    @abstractmethod
    def student_modules(self, student: nn.Module) -> List[str]:
        """Names of the student submodules whose outputs :meth:`loss` reads."""

    @abstractmethod
    def teacher_modules(self, teacher: nn.Module) -> List[str]:
        """Names of each teacher's submodules whose outputs :meth:`loss` reads."""

    @abstractmethod
    def loss(self, student: nn.Module, data_samples: SampleList) -> Dict[str, Tensor]:
        """Loss terms of the batch that just ran, already multiplied by their weights."""

    def clear(self) -> None:
        self.student_recorder.clear()
        for recorder in self.teacher_recorders:
            recorder.clear()


class SequenceHintHook(AmalgamationHook):
    """Shared options of the sequence-level hooks (SA, SAG): which layers are hinted.

    Args:
        projection (bool): hint the input projection (neck) output. Default True.
        encoder_layers (str | Sequence[int]): ``'all'`` or the indices of the hinted encoder
            layers (student layer l mimics teacher layer l). Default ``'all'``.
        loss_weight (float): λ_seq. Default 1.0 (paper).
        eps (float): numerical floor of the per-channel normalisation.
    """

    def __init__(self, projection: bool = True,
                 encoder_layers: Union[str, Sequence[int]] = 'all',
                 loss_weight: float = 1.0, eps: float = 1e-5) -> None:
        super().__init__()
        if not (encoder_layers == 'all' or (not isinstance(encoder_layers, str) and all(
                isinstance(i, int) for i in encoder_layers))):
            raise TypeError(f"encoder_layers must be 'all' or a list of ints, got "
                            f'{encoder_layers!r}.')
        if not projection and not list(encoder_layers):
            raise ValueError(f'{type(self).__name__} hints nothing: enable projection or give '
                             'encoder layers.')
        self.projection = projection
        self.encoder_layers = encoder_layers
        self.loss_weight = loss_weight
        self.eps = eps
