"""Conditional DETR decoder that works for any embedding width."""
import torch
from mmdet.models.layers import ConditionalDetrTransformerDecoder
from mmdet.models.layers.transformer.utils import coordinate_to_encoding
from torch import Tensor


class AnyDimConditionalDetrDecoder(ConditionalDetrTransformerDecoder):
    """mmdet's ``ConditionalDetrTransformerDecoder`` with the sine embedding sized to the model.

    mmdet 3.3 calls ``coordinate_to_encoding`` with its default ``num_feats=128``, i.e. a
    256-d reference embedding, which only matches ``embed_dims == 256``; any other width
    crashes in the first cross-attention. Here the embedding has ``embed_dims // 2`` features
    per coordinate (``embed_dims`` in all), as in DAB-DETR's decoder. For 256 dims the output
    is identical to mmdet's.
    """

    def forward(self,
                query: Tensor,
                key: Tensor = None,
                query_pos: Tensor = None,
                key_pos: Tensor = None,
                key_padding_mask: Tensor = None):
        """Same contract as the parent: returns ``(hidden_states, references)`` with shapes
        ``(num_layers or 1, bs, num_queries, dim)`` and ``(bs, num_queries, 2)``."""
        reference = self.ref_point_head(query_pos).sigmoid()  # (bs, num_queries, 2)
        ref_sine = coordinate_to_encoding(reference[..., :2], num_feats=self.embed_dims // 2)
        intermediate = []
        for layer_id, layer in enumerate(self.layers):
            # The first layer uses the raw sine embedding; later ones scale it by a
            # query-dependent transformation (Conditional DETR eq. 4).
            scale = 1 if layer_id == 0 else self.query_scale(query)
            query = layer(
                query,
                key=key,
                query_pos=query_pos,
                key_pos=key_pos,
                key_padding_mask=key_padding_mask,
                ref_sine_embed=ref_sine * scale,
                is_first=(layer_id == 0))
            if self.return_intermediate:
                intermediate.append(self.post_norm(query))
        if self.return_intermediate:
            return torch.stack(intermediate), reference
        return self.post_norm(query).unsqueeze(0), reference
