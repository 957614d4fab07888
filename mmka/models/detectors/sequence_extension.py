"""Sequence extension of a DETR student (paper §III-B1, Fig. 2) as a mixin for mmdet DETRs."""
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.model import ModuleList
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from ..layers.block_attention import ENCODER_ATTENTIONS, block_encoder_forward
from ..layers.sequence_compression import SequenceCompressor, gather_tokens

COMPRESSION_KEYS = ('strategy', 'attention', 'seed', 'train_guide', 'eval_guide')


class SequenceExtensionMixin:
    """Turns an mmdet DETR-family detector into a KA student with an extended sequence.

    Put it first in the bases (``class KADETRStudent(SequenceExtensionMixin, DETR)``); the
    detector keeps its backbone, encoder, decoder and head configs. Changes:

    * **Input projection ×N** (paper Fig. 2): the neck (DETR's 1x1 ``ChannelMapper``) is built
      N times, ``self.neck`` is a ``ModuleList``; X_S = X_s^1 ⊕ ... ⊕ X_s^N, (B, N·n, C)
      with n = h·w, and every segment carries the same positional encoding and padding mask.
    * **Block-diagonal encoder self-attention** (eqs. 3-4): segments are folded into the
      batch (``encoder_attention='folded'``, O(N)) or masked explicitly (``'masked'``).
    * **Decoder** cross-attends over the whole memory, (B, N·n, C) with the padding mask
      repeated N times, or over the compressed memory (B, n, C).
    * **Compression** (§III-B3, Alg. 1) right after the projection keeps one segment per
      position: P_slim, exposed as :attr:`last_kept_indices`.
    * **Plain checkpoints**: loading a state dict with ``neck.*`` keys (a plain DETR) copies
      the projection into every ``neck.{t}.*``, so ``load_from=<detr.pth>`` just works.

    Reading the student's sequences (the amalgamator's SA hooks) — register forward hooks on:

    * ``neck.{t}``: output is a tuple with one (B, C, h, w) map, X_s^t;
      :meth:`projection_tokens` turns it into (B, n, C).
    * ``encoder.layers.{l}``: output is (B·N, n, C) when folded, (B, N·n, C) when masked,
      (B, n, C) when compressed; :meth:`encoder_layer_segments` returns (B, N, n, C), or
      (B, n, C) when compressed.
    * Token ``t·n + i`` of X_S is position i (row-major over h, w) of segment t. With
      compression, ``gather_tokens(seq, student.last_kept_indices)`` turns any concatenated
      (B, N·n, C) sequence (the teachers' X_T or Y_T^l, the student's own projections) into
      (B, n, C), aligned token by token with the student's compressed sequence.
    * :meth:`sequence_module_names` lists the hookable names.

    Args:
        num_teachers (int): N >= 1, the number of segments.
        encoder_attention (str): ``'folded'`` (default) or ``'masked'``; both compute the same
            block-diagonal attention. Unused when compression is on (the encoder then sees a
            single sequence of n tokens).
        compression (dict, optional): ``dict(strategy='none'|'redundancy'|'isometric'|'random',
            attention='full'|'grouped', seed=0, train_guide='teachers'|'student',
            eval_guide='student'|'teachers')``, see
            :class:`SequenceCompressor` (a child module, ``self.compressor``: ``'random'``
            draws anew at every training step and identically at every evaluation).
            Defaults to no compression. With ``'redundancy'``, a training forward measures
            redundancy on the guide set by :meth:`compression_guide` (the teachers'
            concatenated projections X_T) if any; evaluation, or training without a guide,
            uses the student's own X_S (``eval_guide='teachers'``: the guide at evaluation
            too, which must then be set).
        *args, **kwargs: the detector's own arguments; ``neck`` must be given by keyword.
    """

    def __init__(self, *args, num_teachers: int, encoder_attention: str = 'folded',
                 compression: Optional[dict] = None, **kwargs) -> None:
        if not isinstance(num_teachers, int) or isinstance(num_teachers, bool):
            raise TypeError(f'num_teachers={num_teachers!r} must be an int >= 1.')
        if num_teachers < 1:
            raise ValueError(f'num_teachers={num_teachers} must be >= 1.')
        if encoder_attention not in ENCODER_ATTENTIONS:
            raise ValueError(f'encoder_attention={encoder_attention!r} is unknown; use one '
                             f'of {ENCODER_ATTENTIONS}.')
        compression = _check_compression(compression)
        neck = kwargs.get('neck')
        if neck is None:
            raise ValueError(f'{type(self).__name__} needs neck=dict(...) (the input '
                             'projection to duplicate), passed by keyword.')
        super().__init__(*args, **kwargs)
        self.num_teachers = num_teachers
        self.encoder_attention = encoder_attention
        self.compressor = SequenceCompressor(num_teachers, **compression)
        # One projection per teacher, each built (and so initialised) on its own: identical
        # copies would receive identical gradients from the ground-truth loss forever.
        self.neck = ModuleList([self.neck] +
                               [MODELS.build(neck) for _ in range(num_teachers - 1)])
        self.register_load_state_dict_pre_hook(_tile_plain_projection)
        self._compression_guide: Optional[Tensor] = None
        #: (B, n) long indices into the N·n sequence (``t * n + i``) kept by the last
        #: forward, in position order; None without compression.
        self.last_kept_indices: Optional[Tensor] = None

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """One backbone pass, N projections.

        Returns:
            tuple[Tensor]: N maps of shape (B, C, h, w), the last level of each ``neck.{t}``.
        """
        x = self.backbone(batch_inputs)
        return tuple(neck(x)[-1] for neck in self.neck)

    def pre_transformer(self, img_feats: Tuple[Tensor, ...],
                        batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """Build X_S (and compress it), with its positional encoding and padding mask.

        Args:
            img_feats (tuple[Tensor]): N maps (B, C, h, w) from :meth:`extract_feat`.
            batch_data_samples (list[DetDataSample]): for the padding mask.

        Returns:
            tuple[dict, dict]: encoder inputs ``feat`` (B, L, C), ``feat_mask`` (B, L) bool or
            None, ``feat_pos`` (B, L, C) and, for grouped attention, ``attn_mask``
            (B·heads, n, n); decoder inputs ``memory_mask`` and ``memory_pos``. L = N·n, or n
            with compression.
        """
        # Padding mask and sine encoding depend only on the map size and the image shapes,
        # which all segments share: mmdet's DETR computes them once, on segment 0.
        encoder_inputs, _ = super().pre_transformer(img_feats[:1], batch_data_samples)
        feat, mask, pos = (encoder_inputs[k] for k in ('feat', 'feat_mask', 'feat_pos'))
        tokens = [feat] + [f.flatten(2).transpose(1, 2) for f in img_feats[1:]]
        seq = torch.cat(tokens, dim=1)  # X_S, (B, N·n, C)
        if self.compressor.enabled:
            encoder_inputs = self._compress(seq, mask, pos)
        else:
            encoder_inputs = dict(
                feat=seq,
                feat_mask=None if mask is None else mask.repeat(1, self.num_teachers),
                feat_pos=pos.repeat(1, self.num_teachers, 1))
        decoder_inputs = dict(memory_mask=encoder_inputs['feat_mask'],
                              memory_pos=encoder_inputs['feat_pos'])
        return encoder_inputs, decoder_inputs

    def _compress(self, seq: Tensor, mask: Optional[Tensor], pos: Tensor) -> Dict:
        """Encoder inputs of the compressed sequence [X_S]_{P_slim} (Alg. 1).

        Args:
            seq (Tensor): X_S, (B, N·n, C).
            mask (Tensor, optional): (B, n) padding of one segment; pos (Tensor): (B, n, C).

        Returns:
            dict: ``feat`` (B, n, C), ``feat_mask``, ``feat_pos`` and, for grouped attention,
            ``attn_mask`` (B·heads, n, n). Sets :attr:`last_kept_indices`.
        """
        ext_mask = None if mask is None else mask.repeat(1, self.num_teachers)
        kept = self.compressor.select(self._guide_for(seq), ext_mask)
        self.last_kept_indices = kept
        # P_slim keeps one token per position, in position order: the compressed sequence
        # has exactly the positional encoding and padding of one segment.
        inputs = dict(feat=gather_tokens(seq, kept), feat_mask=mask, feat_pos=pos)
        num_heads = self.encoder.layers[0].self_attn.num_heads
        attn_mask = self.compressor.attn_mask(kept, mask, num_heads)
        if attn_mask is not None:
            inputs['attn_mask'] = attn_mask
        return inputs

    def forward_encoder(self, feat: Tensor, feat_mask: Optional[Tensor], feat_pos: Tensor,
                        attn_mask: Optional[Tensor] = None) -> Dict:
        """Encoder over X_S with block-diagonal attention, or over the compressed sequence.

        Args:
            feat (Tensor): (B, L, C); feat_mask (B, L) or None; feat_pos (B, L, C).
            attn_mask (Tensor, optional): (B·heads, n, n) grouped-attention mask.

        Returns:
            dict: ``memory`` (B, L, C), segments in the same order as ``feat``.
        """
        if self.compressor.enabled:
            memory = self.encoder(query=feat, query_pos=feat_pos, key_padding_mask=feat_mask,
                                  attn_mask=attn_mask)
        else:
            memory = block_encoder_forward(self.encoder, feat, feat_pos, feat_mask,
                                           self.num_teachers, self.encoder_attention)
        return dict(memory=memory)

    @contextmanager
    def compression_guide(self, guide: Tensor) -> Iterator[None]:
        """Within the block, training forwards choose P_slim on ``guide``.

        Args:
            guide (Tensor): (B, N·n, C_g), e.g. the teachers' input-projection outputs
                X_T = X_t^1 ⊕ ... ⊕ X_t^N for the same batch. Only its redundancy is used,
                so C_g may differ from the student's C. In eval mode its shape is still
                checked, but P_slim is chosen on X_S.

        Example:
            >>> with student.compression_guide(teacher_seq):
            ...     losses = student.loss(inputs, data_samples)
        """
        previous, self._compression_guide = self._compression_guide, guide
        try:
            yield
        finally:
            self._compression_guide = previous

    def _guide_for(self, seq: Tensor) -> Tensor:
        """The sequence P_slim is chosen on: the caller's guide in training (and at
        evaluation with ``eval_guide='teachers'``), else X_S."""
        guide = self._compression_guide
        at_eval = self.compressor.wants_teacher_guide_at_eval
        if guide is None:
            if at_eval and not self.training:
                raise ValueError(
                    f"{type(self).__name__} has compression eval_guide='teachers': it chooses "
                    "P_slim on the teachers' X_T at evaluation, so evaluate it inside its "
                    "amalgamator (which runs the teachers), or set eval_guide='student' (the "
                    'paper: X_S) for a student on its own.')
            return seq
        if guide.dim() != 3 or guide.shape[:2] != seq.shape[:2]:
            raise ValueError(
                f'compression guide has shape {tuple(guide.shape)}, but the student sequence '
                f'is {tuple(seq.shape)}: the guide must be (B, N·n, C_g) = '
                f'({seq.size(0)}, {seq.size(1)}, C_g), the N teachers\' projections of the '
                'same batch concatenated along the token axis.')
        # Paper §III-B3: teachers guide training; at evaluation the student chooses alone.
        return guide if self.training or at_eval else seq

    @staticmethod
    def projection_tokens(neck_output: Tuple[Tensor, ...]) -> Tensor:
        """A hooked ``neck.{t}`` output (tuple of (B, C, h, w)) as tokens (B, n, C)."""
        return neck_output[-1].flatten(2).transpose(1, 2)

    def encoder_layer_segments(self, layer_output: Tensor) -> Tensor:
        """A hooked ``encoder.layers.{l}`` output as (B, N, n, C), or (B, n, C) if compressed.

        Args:
            layer_output (Tensor): (B·N, n, C) folded, (B, N·n, C) masked, (B, n, C)
                compressed.
        """
        if self.compressor.enabled:
            return layer_output
        if self.encoder_attention == 'folded':
            return layer_output.unflatten(0, (-1, self.num_teachers))
        return layer_output.unflatten(1, (self.num_teachers, -1))

    def sequence_module_names(self) -> List[str]:
        """Names to hook for the SA loss: ``neck.{t}`` then ``encoder.layers.{l}``."""
        return ([f'neck.{t}' for t in range(self.num_teachers)] +
                [f'encoder.layers.{i}' for i in range(len(self.encoder.layers))])


def _check_compression(compression: Optional[dict]) -> dict:
    """A validated copy of the ``compression`` argument (the caller's dict is not touched)."""
    if compression is None:
        return dict()
    if not isinstance(compression, dict):
        raise TypeError(f'compression={compression!r} must be a dict such as '
                        "dict(strategy='redundancy'), or None.")
    unknown = sorted(set(compression) - set(COMPRESSION_KEYS))
    if unknown:
        raise TypeError(f'compression has unknown keys {unknown}; allowed: {COMPRESSION_KEYS}.')
    return dict(compression)


def _tile_plain_projection(module, state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook: a plain DETR's ``neck.*`` fills every ``neck.{t}.*``.

    Keys ``{prefix}neck.<k>`` where ``<k>`` is a key of one projection's own state dict
    (i.e. a non-student checkpoint) are replaced, in place, by N copies
    ``{prefix}neck.{t}.<k>``; a student checkpoint's ``neck.{t}.<k>`` keys are left alone.
    """
    plain = prefix + 'neck.'
    own = set(module.neck[0].state_dict().keys())
    for key in [k for k in state_dict if k.startswith(plain) and k[len(plain):] in own]:
        value = state_dict.pop(key)
        for t in range(module.num_teachers):
            state_dict.setdefault(f'{plain}{t}.{key[len(plain):]}', value)
