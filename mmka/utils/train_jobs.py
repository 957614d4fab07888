"""Train several configs at once, each in its own ``tools/train.py`` process."""
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Callable, Optional, Sequence, Tuple

from mmengine.config import Config

PROGRESS = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/(\d+)\].*?eta: (\S+)')


def last_checkpoint(cfg: Config) -> str:
    """Where mmengine's CheckpointHook (``save_last``) leaves the final epoch's weights."""
    return osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')


def run_training_jobs(jobs: Sequence[Tuple[str, Config]], train_tool: str, parallel: int,
                      log: Callable[[str], None] = print, report_every: float = 30.0,
                      on_trained: Optional[Callable[[str], None]] = None) -> None:
    """Train every ``(name, cfg)`` with ``train_tool``, ``parallel`` processes at a time.

    Each config is dumped to ``<work_dir>/job_config.py`` and trained by
    ``python train_tool <that file>`` with ``cpu_count // parallel`` threads; its output
    goes to ``<work_dir>/train.log``. Progress (epoch, iteration, eta) is reported through
    ``log`` every ``report_every`` seconds. Separate single-threaded processes because on
    a few CPU cores two of them get through about 1.25x as many steps as one process with
    two threads (small models do not scale across threads).

    ``on_trained(name)`` runs in this process as soon as job ``name`` has finished, while
    the others go on (e.g. to evaluate it, so that a run that ends before the rest is not
    lost with them); the next pending job starts after it returns.

    Raises:
        RuntimeError: a job failed; names it and quotes the end of its log (the other jobs
            are stopped).
    """
    if parallel < 1:
        raise ValueError(f'parallel must be >= 1, got {parallel}.')
    threads = max(1, (os.cpu_count() or 1) // parallel)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cwd = osp.dirname(osp.dirname(osp.abspath(train_tool)))
    pending, running = list(jobs), {}
    last_report = time.time()
    while pending or running:
        while pending and len(running) < parallel:
            name, cfg = pending.pop(0)
            os.makedirs(cfg.work_dir, exist_ok=True)
            cfg_path = osp.join(cfg.work_dir, 'job_config.py')
            cfg.dump(cfg_path)
            log_path = osp.join(cfg.work_dir, 'train.log')
            log(f'training {name} for {cfg.train_cfg.max_epochs} epochs ({threads} '
                f'thread(s)) -> {last_checkpoint(cfg)}; log: {log_path}')
            with open(log_path, 'w') as out:
                proc = subprocess.Popen([sys.executable, train_tool, cfg_path], cwd=cwd,
                                        env=env, stdout=out, stderr=subprocess.STDOUT)
            running[name] = (proc, log_path)
        time.sleep(0.5)
        for name, (proc, log_path) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            if proc.returncode != 0:
                for other, _ in running.values():
                    other.kill()
                with open(log_path, errors='replace') as f:
                    tail = ''.join(f.readlines()[-30:])
                raise RuntimeError(f'Training {name} failed (exit {proc.returncode}); last '
                                   f'lines of {log_path}:\n{tail}')
            log(f'{name} trained')
            if on_trained is not None:
                on_trained(name)
        if running and time.time() - last_report > report_every:
            last_report = time.time()
            log('; '.join(f'{name}: {progress(path)}' for name, (_, path) in running.items()))


def progress(log_path: str) -> str:
    """'epoch e, iter i/n, eta ...' from the last training line of an mmengine log."""
    with open(log_path, errors='replace') as f:
        matches = PROGRESS.findall(f.read())
    if not matches:
        return 'starting'
    epoch, it, iters, eta = matches[-1]
    return f'epoch {epoch}, iter {it}/{iters}, eta {eta}'
