"""Sequence aggregation (SAG), the baseline of previous KA methods (paper §III-B2, eq. 5)."""
from typing import Dict, List, Sequence

import torch.nn as nn
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from .base import SequenceHintHook
from .sequence_utils import (channel_normalize, check_same_levels, feature_levels,
                             masked_mse, neck_shapes, neck_tokens, valid_token_mask)


@MODELS.register_module()
class SequenceAggregation(SequenceHintHook):
    """A plain (non-extended) student sequence mimics the aggregated teacher sequences.

    L_SAG = Σ_l mean_valid ‖norm(Y_s^l) − norm(Y_a^l)‖²,  Y_a^l = (1/N) Σ_i Y_t^{l,i} W_a^{l,i}
    (eq. 5), with one learned d×d projection W_a per teacher and hinted layer, optimised
    together with the student. Same layers, normalisation and averaging as
    :class:`SequenceAmalgamation`, so the two differ only in how teachers are combined.

    Options (hinted layers, λ_seq): :class:`SequenceHintHook`.
    """

    def setup(self, student: nn.Module, teachers: Sequence[nn.Module], student_classes,
              teacher_classes) -> None:
        if isinstance(student.neck, nn.ModuleList):
            raise ValueError('SAG hints a plain student (one input projection); got an '
                             'extended student. Use SequenceAmalgamation for it, or a plain '
                             'detector (e.g. ConditionalDETRAnyDim) as the student.')
        check_same_levels(student, teachers)
        depth = len(student.encoder.layers)
        self.layer_ids: List[int] = (list(range(depth)) if self.encoder_layers == 'all'
                                     else list(self.encoder_layers))
        for t, teacher in enumerate(teachers):
            if len(teacher.encoder.layers) < depth and self.encoder_layers == 'all':
                raise ValueError(f'Teacher {t} has {len(teacher.encoder.layers)} encoder '
                                 f'layers, the student {depth}: list encoder_layers.')
        self.hinted = ['neck'] * self.projection + [f'encoder.layers.{i}' for i in self.layer_ids]
        # W_a^{l,i}: one bias-free linear map per hinted layer and teacher (eq. 5).
        self.projections = nn.ModuleDict({
            name.replace('.', '_'): nn.ModuleList(
                nn.Linear(t.embed_dims, student.embed_dims, bias=False) for t in teachers)
            for name in self.hinted})
        super().setup(student, teachers, student_classes, teacher_classes)

    def student_modules(self, student: nn.Module) -> List[str]:
        # The projection is always recorded: its map size gives the padding mask.
        return ['neck'] + [f'encoder.layers.{i}' for i in self.layer_ids]

    def teacher_modules(self, teacher: nn.Module) -> List[str]:
        return list(self.hinted)

    def loss(self, student: nn.Module, data_samples: SampleList) -> Dict[str, Tensor]:
        levels = feature_levels(student)
        shapes = neck_shapes(self.student_recorder['neck'], levels)
        losses = {}
        for name in self.hinted:
            # Neck outputs are tuples of maps; encoder layers already output (B, n, C).
            seqs = [rec[name] for rec in (self.student_recorder, *self.teacher_recorders)]
            if name == 'neck':
                seqs = [neck_tokens(seq, levels) for seq in seqs]
            student_seq, teacher_seqs = seqs[0], seqs[1:]
            valid = valid_token_mask(data_samples, shapes, student_seq.device)
            projs = self.projections[name.replace('.', '_')]
            aggregated = sum(proj(seq.float()) for proj, seq in zip(projs, teacher_seqs))
            aggregated = aggregated / len(projs)
            key = 'loss_sag_proj' if name == 'neck' else f'loss_sag_enc{name.rsplit(".", 1)[1]}'
            losses[key] = masked_mse(channel_normalize(student_seq, valid, self.eps),
                                     channel_normalize(aggregated, valid, self.eps), valid)
        return {k: v * self.loss_weight for k, v in losses.items()}
