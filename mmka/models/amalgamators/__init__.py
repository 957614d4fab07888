from .base_distiller import FrozenTeacherDistiller
from .ka_detr import KADETRAmalgamator
from .kd_detr import KDDETRDistiller
from .teacher_ensemble import TeacherEnsemble
from .student_start import load_student_start
from .teachers import build_frozen_teacher

__all__ = [
    'FrozenTeacherDistiller', 'KADETRAmalgamator', 'KDDETRDistiller', 'TeacherEnsemble',
    'build_frozen_teacher', 'load_student_start'
]
