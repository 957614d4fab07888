"""Let ``torch.load(weights_only=True)`` read mmengine checkpoints (resume under torch >= 2.6).

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and refuses to unpickle
anything but tensors and plain containers. mmengine 0.10.7 checkpoints also hold the message
hub (``HistoryBuffer`` objects wrapping numpy arrays) and numpy scalars in ``meta``, so
``--resume`` fails with an ``UnpicklingError``. Rather than turning the check off, the few
globals such checkpoints contain are allow-listed (found with
``torch.serialization.get_unsafe_globals_in_checkpoint`` on a Runner checkpoint).

``builtins.getattr`` is among them: a ``HistoryBuffer`` pickles its statistics methods as
``getattr(HistoryBuffer, 'min')``. Allowing it does not open arbitrary execution, because the
weights-only unpickler still only *calls* allow-listed callables; ``getattr`` can fetch an
attribute but the result cannot be invoked unless it is itself allow-listed.
"""
from typing import List

import numpy as np
import torch


def _numpy_globals() -> List[object]:
    """numpy objects that pickles of arrays and scalars reference (numpy 1.x and 2.x)."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in
                     (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                      np.float16, np.float32, np.float64)]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def register_mmengine_safe_globals() -> None:
    """Allow-list the non-tensor classes found in mmengine checkpoints (idempotent)."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no weights_only default to satisfy
        return
    from mmengine.logging import HistoryBuffer
    add_safe_globals([HistoryBuffer, getattr, *_numpy_globals()])
