from .kd_detr_loss import KDDETRLoss
from .task_amalgamation_loss import TaskAmalgamationLoss

__all__ = ['KDDETRLoss', 'TaskAmalgamationLoss']
