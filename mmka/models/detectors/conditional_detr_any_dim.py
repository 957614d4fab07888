"""Conditional DETR that accepts any embedding width (mmdet 3.3 only works with 256)."""
from mmdet.models.detectors import ConditionalDETR
from mmdet.registry import MODELS

from ..layers.conditional_detr_decoder import AnyDimConditionalDetrDecoder


@MODELS.register_module()
class ConditionalDETRAnyDim(ConditionalDETR):
    """mmdet's :class:`ConditionalDETR` with :class:`AnyDimConditionalDetrDecoder`.

    Same configs, weights and outputs as ``ConditionalDETR`` at ``embed_dims=256``; other
    widths (the embedded benchmark uses 128) work instead of crashing in the decoder.
    """

    def _init_layers(self) -> None:
        decoder_cfg = self.decoder
        # The parent builds mmdet's decoder from the same config; replace it before use.
        super()._init_layers()
        self.decoder = AnyDimConditionalDetrDecoder(**decoder_cfg)
