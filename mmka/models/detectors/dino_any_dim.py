"""DINO that accepts any embedding width (mmdet 3.3 only works with 256)."""
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS

from ..layers.dino_decoder import AnyDimDinoTransformerDecoder


@MODELS.register_module()
class DINOAnyDim(DINO):
    """mmdet's :class:`DINO` with :class:`AnyDimDinoTransformerDecoder`.

    Same configs, weights and outputs as ``DINO`` at ``embed_dims=256``; other widths (the
    embedded benchmark's tiny DINO uses 128) work instead of crashing in the decoder.
    """

    def _init_layers(self) -> None:
        decoder_cfg = self.decoder
        # The parent builds mmdet's decoder from the same config; replace it before use.
        super()._init_layers()
        self.decoder = AnyDimDinoTransformerDecoder(**decoder_cfg)
