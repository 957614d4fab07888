from .detectors import *  # noqa: F401,F403
