"""Make mmengine's ``pytorch`` launcher work on machines without a GPU (gloo)."""
import gc
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare a ``launcher='pytorch'`` run for CPU processes talking over gloo (in place).

    mmengine 0.10.7 assumes GPUs twice: ``init_dist`` calls ``torch.cuda.set_device``
    (which raises on CPU builds of torch) and the Runner wraps the model in DDP with
    ``device_ids=[LOCAL_RANK]`` (which DDP rejects for CPU modules). Here the gloo process
    group is started before the Runner (which then skips its own initialisation) and the
    wrapper gets ``device_ids=None``. Nothing changes when a GPU is present.

    Returns:
        bool: whether the CPU set-up was applied.
    """
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    if 'RANK' not in os.environ:
        raise ValueError(
            '--launcher pytorch needs the environment that torchrun sets (RANK, WORLD_SIZE, '
            'MASTER_ADDR, ...); start the job with tools/dist_train.sh or torchrun.')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    cfg.model_wrapper_cfg = dict(wrapper, device_ids=None)
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    return True


def close_distributed() -> None:
    """Destroy the default process group, if any, once a run has ended without an error.

    A gloo process that exits with its group alive can abort in interpreter teardown
    ("terminate called without an active exception", SIGABRT; pytorch/pytorch#190489): the
    group's worker threads outlive the interpreter. torchrun then reports the run as failed
    although it finished. Call this only after success: destroying the group while another
    rank is still inside a collective (after an exception on this one) can deadlock.

    Drop the Runner first: its DDP wrapper's reducer holds a reference to the group, which
    can keep it alive past ``destroy_process_group`` until interpreter teardown. This is the
    suspected cause of one abort seen in the test suite (rank 1, after a run that had called
    this); the fix is not proven against that rare failure.
    """
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # the dropped Runner's reference cycles, and with them the reducer
        dist.barrier()  # no rank tears its pairs down while another is still using them
        dist.destroy_process_group()
