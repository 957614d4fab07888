from .conditional_detr_any_dim import ConditionalDETRAnyDim
from .dino_any_dim import DINOAnyDim
from .dino_without_denoising import DINOWithoutDenoising
from .ka_detr_student import (KAConditionalDETRStudent, KADABDETRStudent,
                              KADeformableDETRStudent, KADETRStudent, KADINOStudent,
                              KAPreNormDETRStudent)
from .multiscale_sequence_extension import MultiScaleSequenceExtensionMixin
from .prenorm_detr import PreNormDETR
from .sequence_extension import SequenceExtensionMixin

__all__ = [
    'ConditionalDETRAnyDim', 'DINOAnyDim', 'DINOWithoutDenoising', 'KADETRStudent',
    'KAConditionalDETRStudent', 'KADABDETRStudent', 'KAPreNormDETRStudent',
    'KADeformableDETRStudent', 'KADINOStudent',
    'MultiScaleSequenceExtensionMixin', 'PreNormDETR', 'SequenceExtensionMixin'
]
