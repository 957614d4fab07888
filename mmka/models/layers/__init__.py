from .block_attention import (block_diagonal_mask, block_encoder_forward, fold_segments,
                              unfold_segments)
from .box_points import BoxGroup
from .conditional_detr_decoder import AnyDimConditionalDetrDecoder
from .dino_decoder import AnyDimDinoTransformerDecoder
from .distillation_points import (DistillationPointSampler, check_point_compatible,
                                  decode_points, detector_family, encode, query_dim)
from .prenorm_detr_layers import (PreNormDetrTransformerDecoder,
                                  PreNormDetrTransformerDecoderLayer,
                                  PreNormDetrTransformerEncoder,
                                  PreNormDetrTransformerEncoderLayer)
from .sequence_compression import (SequenceCompressor, gather_tokens, select_by_redundancy,
                                   token_redundancy)
from .two_stage_proposals import two_stage_proposals

__all__ = [
    'AnyDimConditionalDetrDecoder', 'AnyDimDinoTransformerDecoder', 'BoxGroup',
    'DistillationPointSampler', 'PreNormDetrTransformerDecoder',
    'PreNormDetrTransformerDecoderLayer', 'PreNormDetrTransformerEncoder',
    'PreNormDetrTransformerEncoderLayer', 'SequenceCompressor',
    'block_diagonal_mask', 'block_encoder_forward', 'check_point_compatible', 'decode_points',
    'detector_family', 'encode', 'fold_segments', 'gather_tokens', 'query_dim',
    'select_by_redundancy', 'token_redundancy', 'two_stage_proposals', 'unfold_segments'
]
