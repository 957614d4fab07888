from .base import AmalgamationHook, SequenceHintHook
from .point_task_amalgamation import PointTaskAmalgamation
from .recorder import OutputRecorder
from .sequence_aggregation import SequenceAggregation
from .sequence_amalgamation import SequenceAmalgamation
from .task_amalgamation import TaskAmalgamation

__all__ = [
    'AmalgamationHook', 'OutputRecorder', 'PointTaskAmalgamation', 'SequenceAggregation',
    'SequenceAmalgamation', 'SequenceHintHook', 'TaskAmalgamation'
]
