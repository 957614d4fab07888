from .amalgamation_loss_decay_hook import AmalgamationLossDecayHook
from .teacher_cache_hook import TeacherCacheHook
from .train_time_hook import TrainTimeHook

__all__ = ['AmalgamationLossDecayHook', 'TeacherCacheHook', 'TrainTimeHook']
