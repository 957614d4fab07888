from .match_costs import SoftKLCost, TeacherConfidenceCost, ta_assigner_cfg
from .soft_kl import HEAD_KINDS, background_target, check_head_kind, soft_kl
from .soft_targets import (SoftTargetBuilder, class_index_map, pad_teacher_probs,
                           teacher_confidence)

__all__ = [
    'SoftKLCost', 'TeacherConfidenceCost', 'ta_assigner_cfg', 'HEAD_KINDS', 'background_target',
    'check_head_kind', 'soft_kl', 'SoftTargetBuilder', 'class_index_map', 'pad_teacher_probs',
    'teacher_confidence'
]
