"""The weights a distiller's student starts from: a plain detector's checkpoint."""
import os.path as osp

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import load_checkpoint


def load_student_start(student: nn.Module, checkpoint: str) -> int:
    """Load ``checkpoint`` into ``student`` wherever names and shapes fit.

    This is how a student starts from a pre-training (the paper's Student_UP: Table I's
    students fine-tuned from UP-DETR) rather than from scratch. mmengine's ``load_from``
    cannot do it: it loads into the whole distiller, whose student keys carry the
    ``student.`` prefix a plain checkpoint lacks. The student's own ``load_state_dict``
    pre-hooks map a plain (one-segment) checkpoint of its family onto an extended student
    (tiled input projections, tiled deformable-attention levels), so a plain mmdet checkpoint
    loads into a KA student as it does into a plain one. Tensors whose shapes differ, e.g. a
    classifier for another class count, keep their initialisation; mmengine logs them.

    Args:
        student (nn.Module): the student detector, after its ``init_weights``.
        checkpoint (str): an mmengine checkpoint of a detector of the student's family.

    Returns:
        int: how many of the student's floating-point state-dict tensors were loaded.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        ValueError: less than half of the student's tensors fit ``checkpoint`` (another
            family or width): a start that would silently keep most of the
            initialisation. A backbone-only start is the backbone's ``init_cfg``.
    """
    if not isinstance(checkpoint, str) or not osp.isfile(checkpoint):
        raise FileNotFoundError(f'student_checkpoint {checkpoint!r} does not exist; train or '
                                'download it first, or fix the path.')
    # Which tensors load is known exactly by marking every one NaN first (state_dict shares
    # storage with the parameters and buffers), then restoring those left marked.
    state = {k: v for k, v in student.state_dict().items() if v.is_floating_point()}
    initial = {k: v.clone() for k, v in state.items()}
    with torch.no_grad():
        for value in state.values():
            value.fill_(float('nan'))
    load_checkpoint(student, checkpoint, map_location='cpu', strict=False, logger='current')
    kept = [k for k, v in state.items() if torch.isnan(v).any()]
    with torch.no_grad():
        for key in kept:
            state[key].copy_(initial[key])
    loaded = len(state) - len(kept)
    if 2 * loaded < len(state):
        raise ValueError(f'Only {loaded} of the {len(state)} tensors of the student '
                         f'{type(student).__name__} fit student_checkpoint {checkpoint!r}: '
                         "names or shapes differ. Give a checkpoint of the student's own "
                         'detector family and sizes (for a backbone alone, set the '
                         "backbone's init_cfg instead).")
    MMLogger.get_current_instance().info(
        f'The student starts from {checkpoint}: {loaded} of its {len(state)} tensors loaded; '
        f'these keep their initialisation: {", ".join(kept) or "none"}.')
    return loaded
