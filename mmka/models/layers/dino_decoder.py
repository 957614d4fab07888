"""DINO decoder that works for any embedding width."""
from typing import Tuple

import torch
import torch.nn as nn
from mmdet.models.layers import DinoTransformerDecoder
from mmdet.models.layers.transformer.utils import coordinate_to_encoding, inverse_sigmoid
from torch import Tensor


class AnyDimDinoTransformerDecoder(DinoTransformerDecoder):
    """mmdet's ``DinoTransformerDecoder`` with the box sine embedding sized to the model.

    mmdet 3.3 encodes the (cx, cy, w, h) reference boxes with ``coordinate_to_encoding``'s
    default ``num_feats=128``, i.e. 512 features, which only matches ``ref_point_head``
    (input 2·embed_dims) when ``embed_dims == 256``. Here each coordinate gets
    ``embed_dims // 2`` features (2·embed_dims in all). For 256 dims the output is
    identical to mmdet's; the forward is otherwise the parent's.
    """

    def forward(self, query: Tensor, value: Tensor, key_padding_mask: Tensor,
                self_attn_mask: Tensor, reference_points: Tensor, spatial_shapes: Tensor,
                level_start_index: Tensor, valid_ratios: Tensor, reg_branches: nn.ModuleList,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """Same contract as the parent: returns the stacked per-layer queries
        (num_layers, bs, num_queries, dim) and references (num_layers + 1, bs, num_queries, 4)
        with ``return_intermediate``, else the last layer's (bs, num_queries, dim / 4)."""
        intermediate, intermediate_refs = [], [reference_points]
        for lid, layer in enumerate(self.layers):
            # (bs, num_queries, num_levels, 4): the boxes in each level's valid region.
            ref_input = reference_points[:, :, None] * torch.cat(
                [valid_ratios, valid_ratios], -1)[:, None]
            query_sine_embed = coordinate_to_encoding(ref_input[:, :, 0, :],
                                                      num_feats=self.embed_dims // 2)
            query = layer(
                query,
                query_pos=self.ref_point_head(query_sine_embed),
                value=value,
                key_padding_mask=key_padding_mask,
                self_attn_mask=self_attn_mask,
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index,
                valid_ratios=valid_ratios,
                reference_points=ref_input,
                **kwargs)
            if reg_branches is not None:  # iterative box refinement
                new_refs = (reg_branches[lid](query) +
                            inverse_sigmoid(reference_points, eps=1e-3)).sigmoid()
                reference_points = new_refs.detach()
            if self.return_intermediate:
                intermediate.append(self.norm(query))
                intermediate_refs.append(new_refs)
        if self.return_intermediate:
            return torch.stack(intermediate), torch.stack(intermediate_refs)
        return query, reference_points
