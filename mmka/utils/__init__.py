from .config_utils import load_model_cfg, set_data_root, set_num_workers
from .distributed import setup_cpu_distributed
from .safe_checkpoint import register_mmengine_safe_globals

__all__ = [
    'load_model_cfg', 'setup_cpu_distributed', 'register_mmengine_safe_globals', 'set_data_root',
    'set_num_workers'
]
