from .conditional_detr_any_dim import ConditionalDETRAnyDim

__all__ = ['ConditionalDETRAnyDim']
