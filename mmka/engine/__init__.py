from .amalgamation_loss_decay_hook import AmalgamationLossDecayHook

__all__ = ['AmalgamationLossDecayHook']
