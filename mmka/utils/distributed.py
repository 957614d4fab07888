"""Distributed launch helpers that make mmengine's ``pytorch`` launcher work on CPU."""
import os

import torch
import torch.distributed as dist


def init_cpu_distributed(launcher: str) -> bool:
    """Start a gloo process group for ``launcher='pytorch'`` when there is no GPU.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally, which raises on
    CPU-only builds of torch. When the process group already exists, the Runner skips its own
    initialisation, so CPU runs through ``tools/dist_train.sh`` (torchrun) use gloo.

    Returns:
        bool: whether a process group was started here.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if 'RANK' not in os.environ:
        raise ValueError(
            "--launcher pytorch needs the environment of torchrun (RANK, WORLD_SIZE, "
            "MASTER_ADDR, ...); start it with tools/dist_train.sh or torchrun.")
    dist.init_process_group(backend='gloo')
    return True
