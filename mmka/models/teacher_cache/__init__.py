from .entry_file import CacheFileError
from .pipeline_check import MODES, check_cacheable_pipeline, random_transforms
from .teacher_output_cache import STORAGE_DTYPES, TeacherOutputCache

__all__ = ['CacheFileError', 'MODES', 'STORAGE_DTYPES', 'TeacherOutputCache',
           'check_cacheable_pipeline', 'random_transforms']
