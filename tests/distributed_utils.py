"""Run a function in a few real gloo processes (CPU) and collect what each rank returns."""
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run_gloo(fn, tmp_path, *args, world_size: int = 2, start_method: Optional[str] = None) -> list:
    """``fn(rank, *args)`` in ``world_size`` gloo processes; its results by rank.

    ``fn`` should be a module-level function (a ``'spawn'`` worker imports it) and return
    something ``torch.load`` reads with ``weights_only=True`` (tensors, numbers, lists,
    dicts). A worker's exception fails the call with the worker's traceback. By default
    workers are forked: they inherit the imported mmdet / mmka, which a spawned worker
    imports again (about 10 s on 2 cores); each runs torch single-threaded, as a
    DataLoader worker does, so no OpenMP pool crosses the fork. Where a GPU is visible
    they are spawned: an earlier test in the same process may have run a backward pass on
    the GPU through the Runner, and autograd's device threads make a forked worker's
    backward fail ("Unable to handle autograd's threading in combination with
    fork-based multiprocessing").
    """
    if start_method is None:
        start_method = 'spawn' if torch.cuda.is_available() else 'fork'
    store = osp.join(str(tmp_path), 'gloo_store')
    mp.start_processes(_worker, args=(fn, world_size, store, str(tmp_path), args),
                       nprocs=world_size, join=True, start_method=start_method)
    return [torch.load(_result_file(str(tmp_path), rank)) for rank in range(world_size)]


def _result_file(out_dir: str, rank: int) -> str:
    return osp.join(out_dir, f'gloo_rank{rank}.pt')


def _worker(rank: int, fn, world_size: int, store: str, out_dir: str, args: tuple) -> None:
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=world_size)
    try:
        torch.save(fn(rank, *args), _result_file(out_dir, rank))
    finally:
        dist.destroy_process_group()
