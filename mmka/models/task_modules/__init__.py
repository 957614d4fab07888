from .match_costs import MATCH_COSTS, SoftKLCost, TeacherConfidenceCost, ta_assigner_cfg
from .pseudo_labels import targets_as_samples
from .soft_kl import HEAD_KINDS, background_target, check_head_kind, soft_kl
from .soft_targets import (FILTERS, SoftTargetBuilder, argmax_is_foreground, class_index_map,
                           pad_teacher_probs, teacher_confidence)

__all__ = [
    'MATCH_COSTS', 'SoftKLCost', 'TeacherConfidenceCost', 'ta_assigner_cfg', 'HEAD_KINDS',
    'background_target', 'check_head_kind', 'soft_kl', 'FILTERS', 'SoftTargetBuilder',
    'argmax_is_foreground', 'class_index_map', 'pad_teacher_probs', 'teacher_confidence',
    'targets_as_samples'
]
