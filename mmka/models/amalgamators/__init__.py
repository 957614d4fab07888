from .base_distiller import FrozenTeacherDistiller
from .ka_detr import KADETRAmalgamator
from .teachers import build_frozen_teacher

__all__ = ['FrozenTeacherDistiller', 'KADETRAmalgamator', 'build_frozen_teacher']
