from .config_utils import (CHEAP_TEACHER_DTYPES, add_teacher_cache_hook, load_model_cfg,
                           native_bf16, set_data_root, set_num_workers, use_cheap_teachers,
                           use_teacher_cache)
from .distributed import close_distributed, setup_cpu_distributed
from .provenance import cpu_name, machine, mmka_commit, provenance, teacher_precision
from .safe_checkpoint import register_mmengine_safe_globals
from .train_jobs import last_checkpoint, run_training_jobs

__all__ = [
    'load_model_cfg', 'close_distributed', 'setup_cpu_distributed',
    'register_mmengine_safe_globals', 'set_data_root',
    'set_num_workers', 'last_checkpoint', 'run_training_jobs', 'use_cheap_teachers',
    'cpu_name', 'machine', 'mmka_commit', 'provenance', 'teacher_precision',
    'add_teacher_cache_hook', 'use_teacher_cache', 'native_bf16', 'CHEAP_TEACHER_DTYPES'
]
