from .task_amalgamation_loss import TaskAmalgamationLoss

__all__ = ['TaskAmalgamationLoss']
