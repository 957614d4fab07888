"""mmka: knowledge amalgamation (KA-DETR) and KD-DETR for MMDetection 3.x.

``import mmka`` registers every mmka module into mmdet's registries, so configs keep
``default_scope='mmdet'`` and load the package with
``custom_imports=dict(imports=['mmka'], allow_failed_imports=False)``.
"""
from .utils import register_mmengine_safe_globals
from .version import __version__

register_mmengine_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401  (registration side effects)

__all__ = ['__version__', 'datasets', 'engine', 'evaluation', 'models']
