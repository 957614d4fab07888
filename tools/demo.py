"""The main job on the embedded data (README: `make demo`).

Generates the embedded shapes dataset if it is missing, trains teacher 1 of the 2-teacher
partition with its config (a tiny Conditional DETR; reused when its checkpoint exists),
evaluates it with mmdet's CocoMetric on its own classes and prints the metrics.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/shapes]
                         [--epochs N] [--retrain]
"""
import argparse
import os.path as osp
import time

from mmengine.config import Config
from mmengine.runner import Runner

import mmka  # noqa: F401
from mmka.datasets import ensure_shapes_dataset
from mmka.utils import set_data_root

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEACHER_CFG = osp.join(REPO, 'configs/teachers/conditional-detr_r18tiny_1xb16-20e_shapes-t1of2.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/shapes')
    parser.add_argument('--epochs', type=int, default=None,
                        help='training epochs (default: the config\'s schedule)')
    parser.add_argument('--retrain', action='store_true',
                        help='train again even if a checkpoint exists')
    return parser.parse_args(argv)


def configure(cfg_path: str, data_root: str, work_dir: str, epochs=None) -> Config:
    """Load a config and point it at ``data_root`` and ``work_dir``."""
    cfg = set_data_root(Config.fromfile(cfg_path), data_root)
    cfg.work_dir = work_dir
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs
    return cfg


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    print(f'[demo] embedded data in {args.data_root} (generated if missing)', flush=True)
    ensure_shapes_dataset(args.data_root)

    work_dir = osp.join(args.work_dir, 'teacher_t1of2')
    cfg = configure(TEACHER_CFG, args.data_root, work_dir, args.epochs)
    last = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if args.retrain or not osp.isfile(last):
        print(f'[demo] training teacher 1/2 for {cfg.train_cfg.max_epochs} epochs '
              f'({work_dir})', flush=True)
        Runner.from_cfg(cfg).train()
    else:
        print(f'[demo] reusing {last}', flush=True)
    cfg.load_from = last
    metrics = Runner.from_cfg(cfg).test()

    classes = cfg.train_dataloader.dataset.metainfo['classes']
    print(f'\n[demo] teacher 1/2 on its {len(classes)} classes ({", ".join(classes)}):')
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'):
        print(f'  {key.split("/")[1]:<14} {metrics[key]:.3f}')
    print(f'[demo] done in {(time.time() - t0) / 60:.1f} min')
    return metrics


if __name__ == '__main__':
    main()
