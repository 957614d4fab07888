from .amalgamation_loss_decay_hook import AmalgamationLossDecayHook
from .train_time_hook import TrainTimeHook

__all__ = ['AmalgamationLossDecayHook', 'TrainTimeHook']
