from .conditional_detr_any_dim import ConditionalDETRAnyDim
from .dino_any_dim import DINOAnyDim
from .ka_detr_student import (KAConditionalDETRStudent, KADABDETRStudent, KADETRStudent,
                              KAPreNormDETRStudent)
from .prenorm_detr import PreNormDETR
from .sequence_extension import SequenceExtensionMixin

__all__ = [
    'ConditionalDETRAnyDim', 'DINOAnyDim', 'KADETRStudent', 'KAConditionalDETRStudent', 'KADABDETRStudent',
    'KAPreNormDETRStudent', 'PreNormDETR', 'SequenceExtensionMixin'
]
