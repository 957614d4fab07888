"""Sequence extension of a multi-scale DETR student (Deformable DETR, DINO) as a mixin."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
from mmcv.cnn.bricks.transformer import MultiScaleDeformableAttention
from mmengine.model import ModuleList
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from ..layers.block_attention import fold_segments, unfold_segments
from ..layers.sequence_compression import SequenceCompressor, gather_tokens
from .sequence_extension import (SequenceExtensionMixin, _check_compression,
                                 _tile_plain_projection)

#: Per-level parameters of mmcv's ``MultiScaleDeformableAttention``: their first dim is
#: heads·levels·points(·2), level-major within a head.
LEVEL_INDEXED = ('sampling_offsets', 'attention_weights')


class MultiScaleSequenceExtensionMixin:
    """Turns mmdet's ``DeformableDETR`` or ``DINO`` into a KA student with N segments.

    Put it first in the bases (``class KADINOStudent(MultiScaleSequenceExtensionMixin,
    DINO)``). The multi-scale counterpart of :class:`SequenceExtensionMixin`:

    * **Input projection ×N**: the multi-level neck (``ChannelMapper``, L levels) is built N
      times (``self.neck`` is a ``ModuleList``) after one backbone pass. Segment t is a full
      L-level sequence of n = Σ_l h_l·w_l tokens; all segments share the level embeddings,
      positional encodings, padding masks, spatial shapes and valid ratios. X_S is
      (B, N·n, C), token ``t·n + i`` being token i (levels in order, row-major) of segment t.
    * **Block-diagonal encoder**: each segment's deformable self-attention samples only its
      own L maps, which is the plain encoder over the B·N segments folded into the batch
      (O(N); encoder layers output (B·N, n, C)).
    * **Decoder over N·L levels**: cross-attention sees the N segments as N·L levels
      (``num_levels = N·L`` in the decoder's deformable attention; spatial shapes, level
      start indices and valid ratios repeated). A plain L-level checkpoint loads by tiling
      the level-indexed weights N times: on N identical segments each duplicated level gets
      1/N of the attention weight, so the output equals the plain model's.
    * **Two-stage proposals** (DINO, two-stage Deformable DETR): a proposal's size prior
      0.05·2^l uses the level l within its segment, and the top-k query selection sees one
      token per position: the segment whose proposal scores highest there (ties: the
      lowest segment). Without this, N segments that agree would fill the k queries with N
      copies of each object.
    * **Compression** (§III-B3, Alg. 1 on each level): keeping one segment per position gives
      an ordinary L-level sequence of n tokens (:attr:`last_kept_indices` into the N·n
      sequence), so the slim student's encoder and L-level decoder cost what the plain
      model's do. Deformable attention takes no attention mask, so only
      ``attention='full'`` exists here.

    Hooks for the SA loss are the single-scale student's: ``neck.{t}`` (a tuple of L maps,
    :meth:`projection_tokens` gives (B, n, C)) and ``encoder.layers.{l}``
    (:meth:`encoder_layer_segments` gives (B, N, n, C), or (B, n, C) compressed).

    Args:
        num_teachers (int): N >= 1.
        compression (dict, optional): ``dict(strategy=..., seed=0, train_guide=...)`` as for
            :class:`SequenceCompressor` (``attention`` must be ``'full'``).
        *args, **kwargs: the detector's own arguments; ``neck`` and ``decoder`` by keyword.
    """

    #: How the two-stage encoder scores a proposal (the parent's top-k rule): ``'max'`` over
    #: classes (DINO) or the logit of class 0 (mmdet's two-stage Deformable DETR).
    proposal_score = 'first'

    def __init__(self, *args, num_teachers: int, compression: Optional[dict] = None,
                 **kwargs) -> None:
        if not isinstance(num_teachers, int) or isinstance(num_teachers, bool):
            raise TypeError(f'num_teachers={num_teachers!r} must be an int >= 1.')
        if num_teachers < 1:
            raise ValueError(f'num_teachers={num_teachers} must be >= 1.')
        compression = _check_compression(compression)
        if compression.get('attention', 'full') != 'full':
            raise ValueError(f"compression attention={compression['attention']!r} is not "
                             "available for multi-scale students (deformable attention takes "
                             "no mask); use attention='full'.")
        for key in ('neck', 'decoder'):
            if kwargs.get(key) is None:
                raise ValueError(f'{type(self).__name__} needs {key}=dict(...), passed by '
                                 'keyword.')
        # mmdet's detectors write into their nested config dicts: work on a copy.
        kwargs = copy.deepcopy(kwargs)
        levels = kwargs.get('num_feature_levels', 4)
        compressed = compression.get('strategy', 'none') != 'none'
        # The decoder sees N·L levels, or L after compression (one segment per position).
        kwargs['decoder']['layer_cfg']['cross_attn_cfg']['num_levels'] = (
            levels if compressed else num_teachers * levels)
        super().__init__(*args, **kwargs)
        self.num_teachers = num_teachers
        self.compressor = SequenceCompressor(num_teachers, **compression)
        # One projection per teacher, each built (and initialised) on its own.
        self.neck = ModuleList([self.neck] +
                               [MODELS.build(kwargs['neck']) for _ in range(num_teachers - 1)])
        self.register_load_state_dict_pre_hook(_tile_plain_projection)
        self.register_load_state_dict_pre_hook(_tile_plain_levels)
        self._compression_guide: Optional[Tensor] = None
        #: (B, n) indices into the N·n sequence kept by the last forward; None uncompressed.
        self.last_kept_indices: Optional[Tensor] = None

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor, ...]:
        """One backbone pass, N multi-level projections.

        Returns:
            tuple[Tensor]: N·L maps (B, C, h_l, w_l), segment-major: map ``t·L + l`` is level
            l of ``neck.{t}``.
        """
        x = self.backbone(batch_inputs)
        return tuple(level for neck in self.neck for level in neck(x))

    def pre_transformer(self, mlvl_feats: Tuple[Tensor, ...],
                        batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """X_S with its level-embedded positions, padding and level layout.

        Returns:
            tuple[dict, dict]: encoder inputs (``feat`` (B, N·n, C) or (B, n, C) compressed,
            ``feat_mask``, ``feat_pos`` alike, and the L-level ``spatial_shapes`` (L, 2),
            ``level_start_index`` (L,), ``valid_ratios`` (B, L, 2) of one segment); decoder
            inputs (``memory_mask`` and the layout of the N·L levels the decoder sees, or of
            L levels when compressed).
        """
        levels = self.num_feature_levels
        # Masks, positions and shapes depend only on the map sizes and image shapes, which
        # all segments share: the parent computes them once, on segment 0.
        encoder_inputs, decoder_inputs = super().pre_transformer(mlvl_feats[:levels],
                                                                 batch_data_samples)
        feat, mask, pos = (encoder_inputs[k] for k in ('feat', 'feat_mask', 'feat_pos'))
        segments = [feat] + [
            torch.cat([m.flatten(2).transpose(1, 2) for m in mlvl_feats[t:t + levels]], 1)
            for t in range(levels, len(mlvl_feats), levels)]
        seq = torch.cat(segments, dim=1)  # X_S, (B, N·n, C)
        if self.compressor.enabled:
            kept = self._select(seq, mask, encoder_inputs['spatial_shapes'])
            self.last_kept_indices = kept
            encoder_inputs.update(feat=gather_tokens(seq, kept))
            return encoder_inputs, decoder_inputs
        num = self.num_teachers
        ext_mask = None if mask is None else mask.repeat(1, num)
        encoder_inputs.update(feat=seq, feat_mask=ext_mask, feat_pos=pos.repeat(1, num, 1))
        shapes = encoder_inputs['spatial_shapes'].repeat(num, 1)  # (N·L, 2)
        decoder_inputs = dict(
            memory_mask=ext_mask,
            spatial_shapes=shapes,
            level_start_index=_level_start_index(shapes),
            valid_ratios=encoder_inputs['valid_ratios'].repeat(1, num, 1))
        return encoder_inputs, decoder_inputs

    def forward_encoder(self, feat: Tensor, feat_mask: Optional[Tensor], feat_pos: Tensor,
                        spatial_shapes: Tensor, level_start_index: Tensor,
                        valid_ratios: Tensor) -> Dict:
        """The encoder on each segment separately (folded into the batch).

        Returns:
            dict: ``memory`` (B, N·n, C) (or (B, n, C) compressed), ``memory_mask`` alike and
            the ``spatial_shapes`` of the levels the decoder sees, for the proposals.
        """
        if self.compressor.enabled:
            return super().forward_encoder(feat, feat_mask, feat_pos, spatial_shapes,
                                           level_start_index, valid_ratios)
        num = self.num_teachers
        memory = self.encoder(
            query=fold_segments(feat, num),
            query_pos=fold_segments(feat_pos, num),
            key_padding_mask=fold_segments(feat_mask, num),
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios.repeat_interleave(num, dim=0))  # row b·N + t
        return dict(memory=unfold_segments(memory, num), memory_mask=feat_mask,
                    spatial_shapes=spatial_shapes.repeat(num, 1))

    def gen_encoder_output_proposals(self, memory: Tensor, memory_mask: Optional[Tensor],
                                     spatial_shapes: Tensor) -> Tuple[Tensor, Tensor]:
        """Two-stage proposals of the best segment at each position.

        Args:
            memory (Tensor): (B, N·n, C) (or (B, n, C): one segment, compressed or N = 1).
            memory_mask (Tensor, optional): (B, N·n) bool. spatial_shapes (Tensor): (N·L, 2).

        Returns:
            tuple[Tensor, Tensor]: the parent's ``output_memory`` (B, n, C) and
            ``output_proposals`` (B, n, 4) of one segment per position — so the top-k
            selection and the encoder loss see n candidates, never N copies of one.
        """
        levels = self.num_feature_levels
        num = spatial_shapes.size(0) // levels
        if num == 1:
            return super().gen_encoder_output_proposals(memory, memory_mask, spatial_shapes)
        n = memory.size(1) // num
        parent = super().gen_encoder_output_proposals  # no zero-argument super() below
        outs = [parent(
            memory[:, t * n:(t + 1) * n],
            None if memory_mask is None else memory_mask[:, t * n:(t + 1) * n],
            spatial_shapes[:levels]) for t in range(num)]
        output_memory = torch.stack([o[0] for o in outs], 1)  # (B, N, n, C)
        proposals = torch.stack([o[1] for o in outs], 1)  # (B, N, n, 4)
        with torch.no_grad():
            best = self._proposal_scores(output_memory).argmax(dim=1)  # (B, n), first max
        pick = best[:, None, :, None]
        return (output_memory.gather(1, pick.expand(-1, 1, -1, output_memory.size(-1)))[:, 0],
                proposals.gather(1, pick.expand(-1, 1, -1, 4))[:, 0])

    def _proposal_scores(self, output_memory: Tensor) -> Tensor:
        """(..., C) encoder tokens -> (...) the score the parent's top-k ranks by."""
        logits = self.bbox_head.cls_branches[self.decoder.num_layers](output_memory)
        return logits.max(-1)[0] if self.proposal_score == 'max' else logits[..., 0]

    def _select(self, seq: Tensor, mask: Optional[Tensor], spatial_shapes: Tensor) -> Tensor:
        """P_slim (B, n) into the N·n sequence: Alg. 1 run on each level separately.

        Redundancy is measured among the tokens of one level (all segments), since tokens
        of different resolutions are not alike; the kept indices are in position order.
        """
        guide = self._guide_for(seq)
        num, n = self.num_teachers, seq.size(1) // self.num_teachers
        sizes = spatial_shapes.prod(1).tolist()
        kept, start = [], 0
        for size in sizes:
            # Token i of this level in segment t sits at t·n + start + i.
            index = (torch.arange(num, device=seq.device)[:, None] * n + start +
                     torch.arange(size, device=seq.device)).flatten()  # (N·size,)
            level_mask = None if mask is None else mask[:, start:start + size].repeat(1, num)
            choice = self.compressor.select(guide[:, index], level_mask)  # t·size + i
            kept.append((choice // size) * n + start + choice % size)
            start += size
        return torch.cat(kept, dim=1)

    #: Within the block, training forwards choose P_slim on ``guide``, (B, N·n, C_g) over all
    #: levels (e.g. the teachers' multi-level projections); see the single-scale student.
    compression_guide = SequenceExtensionMixin.compression_guide
    #: The guide in training (or X_S), checked against X_S's shape: the guide must be the N
    #: teachers' multi-level projections of the same batch, (B, N·n, C_g).
    _guide_for = SequenceExtensionMixin._guide_for

    def projection_tokens(self, neck_output: Tuple[Tensor, ...]) -> Tensor:
        """A hooked ``neck.{t}`` output (L maps (B, C, h_l, w_l)) as tokens (B, n, C)."""
        return torch.cat([m.flatten(2).transpose(1, 2) for m in neck_output], dim=1)

    def encoder_layer_segments(self, layer_output: Tensor) -> Tensor:
        """A hooked ``encoder.layers.{l}`` output: (B·N, n, C) -> (B, N, n, C); compressed
        (B, n, C) unchanged."""
        if self.compressor.enabled:
            return layer_output
        return layer_output.unflatten(0, (-1, self.num_teachers))

    def sequence_module_names(self) -> List[str]:
        """Names to hook for the SA loss: ``neck.{t}`` then ``encoder.layers.{l}``."""
        return ([f'neck.{t}' for t in range(self.num_teachers)] +
                [f'encoder.layers.{i}' for i in range(len(self.encoder.layers))])


def _level_start_index(spatial_shapes: Tensor) -> Tensor:
    """(num_levels,) offsets of each level in the flattened sequence."""
    return torch.cat((spatial_shapes.new_zeros((1, )), spatial_shapes.prod(1).cumsum(0)[:-1]))


def _tile_plain_levels(module, state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook: an L-level checkpoint's decoder fills N·L levels.

    For every ``MultiScaleDeformableAttention`` of the decoder with N·L levels, level-indexed
    weights saved with L levels (first dim heads·L·points(·2)) are tiled N times along the
    level axis, segment-major. A student checkpoint (already N·L) is left alone.
    """
    for name, attn in module.decoder.named_modules():
        if not isinstance(attn, MultiScaleDeformableAttention):
            continue
        for param in LEVEL_INDEXED:
            for kind in ('weight', 'bias'):
                key = f'{prefix}decoder.{name}.{param}.{kind}'
                value = state_dict.get(key)
                own = getattr(getattr(attn, param), kind)
                if value is None or value.shape == own.shape:
                    continue
                num = own.size(0) // value.size(0)
                if num * value.size(0) != own.size(0) or attn.num_levels % num:
                    continue  # a genuine mismatch: let load_state_dict report it
                heads = attn.num_heads
                per_head = value.view(heads, attn.num_levels // num, -1, *value.shape[1:])
                state_dict[key] = per_head.repeat(1, num, *([1] * (per_head.dim() - 2))) \
                    .reshape(own.shape)
