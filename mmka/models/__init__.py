from .detectors import *  # noqa: F401,F403
from .amalgamators import *  # noqa: F401,F403
from .amalgamation_hooks import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from . import losses, task_modules  # noqa: F401  (registers the TA costs, targets and loss)
