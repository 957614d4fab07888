from .block_attention import (block_diagonal_mask, block_encoder_forward, fold_segments,
                              unfold_segments)
from .conditional_detr_decoder import AnyDimConditionalDetrDecoder
from .sequence_compression import (SequenceCompressor, gather_tokens, select_by_redundancy,
                                   token_redundancy)

__all__ = [
    'AnyDimConditionalDetrDecoder', 'SequenceCompressor', 'block_diagonal_mask',
    'block_encoder_forward', 'fold_segments', 'gather_tokens', 'select_by_redundancy',
    'token_redundancy', 'unfold_segments'
]
