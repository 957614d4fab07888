"""Pre-norm DETR transformer (facebookresearch/detr ``normalize_before=True``, UP-DETR's layout).

Every sub-layer normalises its input and adds its output to the un-normalised stream,
``x = x + f(norm(x))``; the encoder ends with a LayerNorm, and so does the decoder (on every
intermediate output too, as mmdet's post-norm decoder already does). Same parameters and
names as mmdet's post-norm layers (``self_attn``, ``cross_attn``, ``ffn``, ``norms.{i}``), so
only the order of operations differs.
"""
from mmcv.cnn import build_norm_layer
from mmdet.models.layers import (DetrTransformerDecoder, DetrTransformerDecoderLayer,
                                 DetrTransformerEncoder, DetrTransformerEncoderLayer)
from mmdet.registry import MODELS
from mmdet.utils import OptConfigType
from mmengine.model import ModuleList
from torch import Tensor


@MODELS.register_module()
class PreNormDetrTransformerEncoderLayer(DetrTransformerEncoderLayer):
    """Encoder layer: ``x = x + SA(LN0(x)); x = x + FFN(LN1(x))``, positions on q and k."""

    def forward(self, query: Tensor, query_pos: Tensor, key_padding_mask: Tensor,
                **kwargs) -> Tensor:
        """
        Args:
            query (Tensor): (B, n, C); query_pos (Tensor): (B, n, C).
            key_padding_mask (Tensor, optional): (B, n) bool, True at padding.
            **kwargs: passed to the self-attention, e.g. ``attn_mask`` (n, n).

        Returns:
            Tensor: (B, n, C).
        """
        normed = self.norms[0](query)
        # mmcv's attention adds ``identity`` itself: the residual is the un-normalised query.
        query = self.self_attn(query=normed, key=normed, value=normed, identity=query,
                               query_pos=query_pos, key_pos=query_pos,
                               key_padding_mask=key_padding_mask, **kwargs)
        return self.ffn(self.norms[1](query), identity=query)


@MODELS.register_module()
class PreNormDetrTransformerDecoderLayer(DetrTransformerDecoderLayer):
    """Decoder layer: ``x = x + SA(LN0(x)); x = x + CA(LN1(x), memory); x = x + FFN(LN2(x))``.

    The memory is not normalised here: the pre-norm encoder's final LayerNorm already did.
    """

    def forward(self, query: Tensor, key: Tensor = None, value: Tensor = None,
                query_pos: Tensor = None, key_pos: Tensor = None,
                self_attn_mask: Tensor = None, cross_attn_mask: Tensor = None,
                key_padding_mask: Tensor = None, **kwargs) -> Tensor:
        """
        Args:
            query (Tensor): (B, q, C); query_pos (Tensor): (B, q, C).
            key, value (Tensor): the memory, (B, L, C); key_pos (Tensor): (B, L, C).
            self_attn_mask (Tensor, optional): (q, q); cross_attn_mask (Tensor, optional):
                (q, L); key_padding_mask (Tensor, optional): (B, L) bool, True at padding.

        Returns:
            Tensor: (B, q, C).
        """
        normed = self.norms[0](query)
        query = self.self_attn(query=normed, key=normed, value=normed, identity=query,
                               query_pos=query_pos, key_pos=query_pos,
                               attn_mask=self_attn_mask, **kwargs)
        query = self.cross_attn(query=self.norms[1](query), key=key, value=value,
                                identity=query, query_pos=query_pos, key_pos=key_pos,
                                attn_mask=cross_attn_mask,
                                key_padding_mask=key_padding_mask, **kwargs)
        return self.ffn(self.norms[2](query), identity=query)


@MODELS.register_module()
class PreNormDetrTransformerEncoder(DetrTransformerEncoder):
    """mmdet's DETR encoder with pre-norm layers and a final LayerNorm (``post_norm``).

    Without the final norm the memory would be the raw residual stream, whose scale grows
    with depth; DETR's ``normalize_before`` encoder normalises it once at the end.

    Args:
        post_norm_cfg (dict): the final norm. Defaults to ``dict(type='LN')``.
        num_cp (int): activation checkpointing is not supported; must stay -1.
        Others: as :class:`DetrTransformerEncoder`.
    """

    def __init__(self, *args, post_norm_cfg: OptConfigType = dict(type='LN'),
                 **kwargs) -> None:
        self.post_norm_cfg = post_norm_cfg  # read by _init_layers, which the parent calls
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        # The parent builds its post-norm layer class by name; build the pre-norm one instead.
        if self.num_cp > 0:
            raise ValueError(f'num_cp={self.num_cp}: {type(self).__name__} does not support '
                             'activation checkpointing; use num_cp=-1.')
        self.layers = ModuleList([PreNormDetrTransformerEncoderLayer(**self.layer_cfg)
                                  for _ in range(self.num_layers)])
        self.embed_dims = self.layers[0].embed_dims
        self.post_norm = build_norm_layer(self.post_norm_cfg, self.embed_dims)[1]

    def forward(self, query: Tensor, query_pos: Tensor, key_padding_mask: Tensor,
                **kwargs) -> Tensor:
        """(B, n, C) query and positions, (B, n) padding mask -> (B, n, C) memory."""
        return self.post_norm(super().forward(query, query_pos, key_padding_mask, **kwargs))


@MODELS.register_module()
class PreNormDetrTransformerDecoder(DetrTransformerDecoder):
    """mmdet's DETR decoder with pre-norm layers.

    The parent's ``post_norm`` is applied to every intermediate output and to the last one,
    exactly DETR's final decoder norm, so only the layers change. Returns
    (num_layers, B, q, C) with ``return_intermediate``, else (1, B, q, C).
    """

    def _init_layers(self) -> None:
        # The parent builds its post-norm layer class by name; build the pre-norm one instead.
        self.layers = ModuleList([PreNormDetrTransformerDecoderLayer(**self.layer_cfg)
                                  for _ in range(self.num_layers)])
        self.embed_dims = self.layers[0].embed_dims
        self.post_norm = build_norm_layer(self.post_norm_cfg, self.embed_dims)[1]
