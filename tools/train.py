"""Train a detector or an amalgamation with MMEngine's Runner (mmdet's tools/train.py CLI).

    python tools/train.py CONFIG [--work-dir DIR] [--amp | --no-amp] [--resume [CKPT]]
                          [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

Multi-process runs go through tools/dist_train.sh (torchrun); on machines without a GPU the
processes talk over gloo.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmka  # noqa: F401  (registers mmka modules, allow-lists checkpoint classes)
from mmka.utils import add_teacher_cache_hook, close_distributed, setup_cpu_distributed


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector (mmka)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training (GPU)')
    parser.add_argument('--no-amp', action='store_true',
                        help='train in float32 a config that asks for AMP (e.g. the paper '
                        'configs on a machine without a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest checkpoint in the work '
        'dir when no path is given')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args) -> Config:
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file {args.config!r} does not exist.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp and args.no_amp:
        raise ValueError('--amp and --no-amp contradict each other; give one.')
    if args.no_amp and cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
        # OptimWrapper takes neither loss scaling nor an AMP dtype.
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            cfg.optim_wrapper.pop(key, None)
        cfg.optim_wrapper.type = 'OptimWrapper'
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'OptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        elif wrapper != 'AmpOptimWrapper':
            raise ValueError(f'--amp needs an OptimWrapper or AmpOptimWrapper, got {wrapper!r}.')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config.')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'Checkpoint to resume from {args.resume!r} does not exist.')
        cfg.resume = True
        cfg.load_from = args.resume
    return add_teacher_cache_hook(cfg)


def main(argv=None):
    args = parse_args(argv)
    cfg = build_config(args)
    setup_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    del runner  # its DDP reducer holds the process group (see close_distributed)
    if args.launcher != 'none':  # the group is this process's only when it was launched
        close_distributed()


if __name__ == '__main__':
    main()
