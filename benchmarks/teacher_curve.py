"""Learning curve of a detector on the embedded data: mAP vs epochs and wall-clock minutes.

    python benchmarks/teacher_curve.py [--config CFG] [--epochs 30] [--val-interval 2]
                                       [--seed 0] [--data-root data/shapes]
                                       [--out results/teacher_curve.md]

Trains ``--config`` (default: teacher 1 of the 2-teacher shapes partition) from scratch
through the Runner, evaluates every ``--val-interval`` epochs with CocoMetric on the
config's own classes, and writes a markdown table (epoch, minutes of training + evaluation
so far, mAP, mAP_50, mAP_75) with the command, the machine, the seed
(``randomness.seed``), the mmka commit and, for a distillation config, the teachers'
precision. Wall-clock figures are only comparable on an otherwise idle machine.
"""
import argparse
import os
import os.path as osp
import platform
import sys
import time

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
import mmka  # noqa: E402,F401
from mmka.datasets import ensure_shapes_dataset  # noqa: E402
from mmka.utils import provenance, set_data_root, teacher_precision  # noqa: E402

DEFAULT_CFG = 'configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t1of2.py'


class CurveHook(Hook):
    """Collects (epoch, minutes since training started, metrics) after each validation."""

    def __init__(self):
        self.start = time.time()
        self.rows = []

    def after_val_epoch(self, runner, metrics=None):
        self.rows.append((runner.epoch, (time.time() - self.start) / 60, metrics or {}))
        print(f'[curve] epoch {runner.epoch}: {self.rows[-1][1]:.1f} min, '
              f"mAP_50 {metrics.get('coco/bbox_mAP_50', float('nan')):.3f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=DEFAULT_CFG)
    parser.add_argument('--epochs', type=int, default=None, help='default: the config\'s')
    parser.add_argument('--val-interval', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0, help='randomness.seed (default 0)')
    parser.add_argument('--data-root', default='data/shapes')
    parser.add_argument('--work-dir', default='work_dirs/teacher_curve')
    parser.add_argument('--out', default=osp.join(REPO, 'benchmarks/results/teacher_curve.md'))
    args = parser.parse_args(argv)

    ensure_shapes_dataset(args.data_root)
    cfg = set_data_root(Config.fromfile(args.config), args.data_root.rstrip('/') + '/')
    cfg.work_dir = args.work_dir
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
    cfg.train_cfg.val_interval = args.val_interval
    cfg.randomness = dict(seed=args.seed)
    origin = provenance([args.seed], {osp.basename(args.config): teacher_precision(cfg)})
    print(f'[curve] {origin}', flush=True)
    runner = Runner.from_cfg(cfg)
    hook = CurveHook()
    runner.register_hook(hook, priority='LOWEST')
    runner.train()

    classes = cfg.train_dataloader.dataset.metainfo['classes']
    lines = [
        f'# Learning curve: `{osp.basename(args.config)}`', '',
        f'Command: `python benchmarks/teacher_curve.py --config {args.config} '
        f'--epochs {cfg.train_cfg.max_epochs} --val-interval {args.val_interval} '
        f'--seed {args.seed}`  ',
        f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, '
        f'torch {torch.__version__}, {torch.get_num_threads()} threads; '
        f'date {time.strftime("%Y-%m-%d")}  ',
        f'Provenance: {origin}.  ',
        f'Evaluated on its {len(classes)} classes: {", ".join(classes)}', '',
        '| epoch | minutes (train + val) | mAP | mAP_50 | mAP_75 |', '|---|---|---|---|---|']
    for epoch, minutes, m in hook.rows:
        lines.append(f"| {epoch} | {minutes:.1f} | {m.get('coco/bbox_mAP', 0):.3f} | "
                     f"{m.get('coco/bbox_mAP_50', 0):.3f} | {m.get('coco/bbox_mAP_75', 0):.3f} |")
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
