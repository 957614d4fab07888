"""Linear decay of the amalgamation loss weights over training (authors' public code)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


@HOOKS.register_module()
class AmalgamationLossDecayHook(Hook):
    """Scale every amalgamation hook loss by a factor going linearly from 1 to ``end_factor``.

    Before each training iteration the model's ``amalgamation_scale`` is set to
    ``1 - (1 - end_factor) * iter / max_iters``: teachers guide the start of training and
    the ground-truth loss (never scaled) dominates its end. Enable it in a config with
    ``custom_hooks = [dict(type='AmalgamationLossDecayHook', end_factor=0.0)]``.

    Args:
        end_factor (float): the scale at the last iteration, in [0, 1]. Default 0.
    """

    priority = 'NORMAL'

    def __init__(self, end_factor: float = 0.0) -> None:
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError(f'end_factor must be in [0, 1], got {end_factor!r}.')
        self.end_factor = end_factor

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'amalgamation_scale'):
            raise TypeError(f'AmalgamationLossDecayHook needs an amalgamator model, got '
                            f'{type(model).__name__}.')
        progress = runner.iter / max(runner.max_iters, 1)
        model.amalgamation_scale = 1.0 - (1.0 - self.end_factor) * progress
