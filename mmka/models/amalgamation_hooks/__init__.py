from .base import AmalgamationHook, SequenceHintHook
from .recorder import OutputRecorder
from .sequence_aggregation import SequenceAggregation
from .sequence_amalgamation import SequenceAmalgamation
from .task_amalgamation import TaskAmalgamation

__all__ = [
    'AmalgamationHook', 'OutputRecorder', 'SequenceAggregation', 'SequenceAmalgamation',
    'SequenceHintHook', 'TaskAmalgamation'
]
