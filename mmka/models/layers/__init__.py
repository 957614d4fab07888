from .conditional_detr_decoder import AnyDimConditionalDetrDecoder

__all__ = ['AnyDimConditionalDetrDecoder']
