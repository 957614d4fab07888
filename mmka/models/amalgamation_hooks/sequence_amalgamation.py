"""Sequence-level amalgamation (SA, paper §III-B, eq. 2)."""
from typing import Dict, List, Sequence, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..layers.sequence_compression import gather_tokens
from .base import SequenceHintHook
from .sequence_utils import (channel_normalize, check_same_levels, feature_levels, masked_mse,
                             neck_shapes, neck_tokens, valid_token_mask)

REDUCTIONS = ('mean', 'sum')


@MODELS.register_module()
class SequenceAmalgamation(SequenceHintHook):
    """Each segment of the extended student sequence mimics its teacher's sequence (eq. 2).

    L_seq = Σ_l (1/N) Σ_i mean_valid ‖norm(Y_s^{l,i}) − norm(Y_t^{l,i})‖² over the hinted
    layers l: the input projection (the neck) and the encoder layers. ``norm`` is per-channel
    normalisation by the batch statistics of each sequence (no affine parameters), padding
    tokens are excluded from the statistics and from the mean. The squared distance is
    averaged over channels (an MSE), so the loss does not grow with the embedding width.

    With sequence compression the student's encoder sees n kept tokens; the teachers'
    encoder sequences Y_T^l are concatenated and gathered with the same P_slim (the
    student's ``last_kept_indices``). The projection is hinted on all N segments, which the
    student computes before compressing.

    Args:
        reduction (str): how the N per-teacher terms of a layer combine. ``'mean'`` (paper
            eq. 2, the 1/N; the default) or ``'sum'`` (the authors' public code), i.e. N
            times larger at the same λ_seq. A compressed encoder layer is one sequence
            mixing all teachers' tokens, its single term counts as the mean; ``'sum'``
            multiplies it by N as well, so the two reductions differ by the factor N on
            every hinted layer.
        projection, encoder_layers, loss_weight, eps: see :class:`SequenceHintHook`.
    """

    def __init__(self, reduction: str = 'mean', projection: bool = True,
                 encoder_layers: Union[str, Sequence[int]] = 'all',
                 loss_weight: float = 1.0, eps: float = 1e-5) -> None:
        super().__init__(projection, encoder_layers, loss_weight, eps)
        if reduction not in REDUCTIONS:
            raise ValueError(f'Unknown SA reduction {reduction!r}; use one of '
                             f"{REDUCTIONS} ('mean': paper eq. 2, 'sum': the authors' "
                             'code).')
        self.reduction = reduction

    def setup(self, student: nn.Module, teachers: Sequence[nn.Module], student_classes,
              teacher_classes) -> None:
        if getattr(student, 'num_teachers', None) != len(teachers):
            raise ValueError(
                f'SA needs an extended student with one segment per teacher: the student has '
                f'num_teachers={getattr(student, "num_teachers", None)!r}, there are '
                f'{len(teachers)} teachers (use a KA*Student with num_teachers={len(teachers)}).')
        check_same_levels(student, teachers)
        depth = len(student.encoder.layers)
        layers = range(depth) if self.encoder_layers == 'all' else self.encoder_layers
        for t, teacher in enumerate(teachers):
            if teacher.embed_dims != student.embed_dims:
                raise ValueError(
                    f'Teacher {t} has embed dims {teacher.embed_dims}, the student '
                    f'{student.embed_dims}: SA compares sequences channel by channel, so they '
                    'must match.')
            t_depth = len(teacher.encoder.layers)
            bad = [i for i in layers if not 0 <= i < min(depth, t_depth)]
            if bad or (self.encoder_layers == 'all' and t_depth != depth):
                raise ValueError(
                    f'Teacher {t} has {t_depth} encoder layers, the student {depth}: with '
                    "encoder_layers='all' they must match; otherwise list layer indices "
                    f'valid in both (got invalid {bad or list(layers)}).')
        self.layer_ids: List[int] = list(layers)
        super().setup(student, teachers, student_classes, teacher_classes)

    def student_modules(self, student: nn.Module) -> List[str]:
        # The projections are always recorded: their map size gives the padding mask.
        return ([f'neck.{t}' for t in range(student.num_teachers)] +
                [f'encoder.layers.{i}' for i in self.layer_ids])

    def teacher_modules(self, teacher: nn.Module) -> List[str]:
        names = ['neck'] if self.projection else []
        return names + [f'encoder.layers.{i}' for i in self.layer_ids]

    def loss(self, student: nn.Module, data_samples: SampleList) -> Dict[str, Tensor]:
        losses = {}
        levels = feature_levels(student)
        if self.projection:
            pairs = [(neck_tokens(self.student_recorder[f'neck.{t}'], levels),
                      neck_tokens(rec['neck'], levels))
                     for t, rec in enumerate(self.teacher_recorders)]
            losses['loss_sa_proj'] = self._segment_loss(pairs, data_samples, levels)
        for i in self.layer_ids:
            name = f'encoder.layers.{i}'
            student_seq = student.encoder_layer_segments(self.student_recorder[name])
            teacher_seqs = [rec[name] for rec in self.teacher_recorders]  # N x (B, n, C)
            if student.compressor.enabled:  # (B, n, C) vs the teachers' [Y_T]_{P_slim}
                kept = student.last_kept_indices
                pairs = [(student_seq, gather_tokens(torch.cat(teacher_seqs, 1), kept))]
            else:  # (B, N, n, C): segment t vs teacher t
                pairs = list(zip(student_seq.unbind(1), teacher_seqs))
            losses[f'loss_sa_enc{i}'] = self._segment_loss(pairs, data_samples, levels)
        scale = self.loss_weight * (len(self.teacher_recorders) if self.reduction == 'sum' else 1)
        return {k: v * scale for k, v in losses.items()}

    def _segment_loss(self, pairs, data_samples: SampleList, levels: int) -> Tensor:
        """The mean over pairs of the normalised MSE of (B, n, C) sequences (n tokens over
        ``levels`` levels; padding excluded on every level)."""
        shapes = neck_shapes(self.student_recorder['neck.0'], levels)
        valid = valid_token_mask(data_samples, shapes, pairs[0][1].device)
        total = 0.
        for student_seq, teacher_seq in pairs:
            if student_seq.shape != teacher_seq.shape:
                raise ValueError(f'Student sequence {tuple(student_seq.shape)} and teacher '
                                 f'sequence {tuple(teacher_seq.shape)} differ: teacher and '
                                 'student need the same backbone stride and embed dims.')
            total = total + masked_mse(channel_normalize(student_seq, valid, self.eps),
                                       channel_normalize(teacher_seq, valid, self.eps), valid)
        return total / len(pairs)
