from .conditional_detr_any_dim import ConditionalDETRAnyDim
from .ka_detr_student import (KAConditionalDETRStudent, KADABDETRStudent,
                              KADETRStudent)
from .sequence_extension import SequenceExtensionMixin

__all__ = [
    'ConditionalDETRAnyDim', 'KADETRStudent', 'KAConditionalDETRStudent', 'KADABDETRStudent',
    'SequenceExtensionMixin'
]
