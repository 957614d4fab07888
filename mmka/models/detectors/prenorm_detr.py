"""DETR with pre-norm transformer layers (DETR ``pre_norm``, the UP-DETR / KA-DETR model)."""
from mmdet.models.detectors import DETR
from mmdet.registry import MODELS

from ..layers.prenorm_detr_layers import (PreNormDetrTransformerDecoder,
                                          PreNormDetrTransformerEncoder)


@MODELS.register_module()
class PreNormDETR(DETR):
    """mmdet's :class:`DETR` with :class:`PreNormDetrTransformerEncoder` (pre-norm layers and
    a final LayerNorm, ``encoder.post_norm``) and :class:`PreNormDetrTransformerDecoder`.

    Same configs and parameter names as ``DETR`` plus ``encoder.post_norm``; UP-DETR and
    facebookresearch/detr ``--pre_norm`` checkpoints convert with
    ``tools/model_converters/updetr_to_mmdet.py``. Shapes as in ``DETR``: memory (B, n, C),
    decoder output (num_decoder_layers, B, num_queries, C).
    """

    def _init_layers(self) -> None:
        encoder_cfg, decoder_cfg = self.encoder, self.decoder
        # The parent builds mmdet's post-norm encoder and decoder (and everything else) from
        # the same configs; replace them before use.
        super()._init_layers()
        self.encoder = PreNormDetrTransformerEncoder(**encoder_cfg)
        self.decoder = PreNormDetrTransformerDecoder(**decoder_cfg)
