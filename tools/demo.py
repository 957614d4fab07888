"""The main job on the embedded data (README: `make demo`): amalgamate two teachers.

1. generate the embedded shapes dataset if it is missing;
2. train teacher 1 and teacher 2 of the 2-teacher partition (reused when their checkpoints
   exist in the work dir);
3. amalgamate them into one student with SA + TA + ground truth (configs/ka/shapes_2t.py;
   reused when its checkpoint exists);
4. evaluate on all 20 classes with mmdet's CocoMetric and print the table
   Teacher_1 / Teacher_2 / Ensemble / Student.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-root data/shapes]
                         [--num-train 2000] [--num-val 500]
                         [--teacher-epochs N] [--student-epochs N] [--retrain]
"""
import argparse
import os.path as osp
import time
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.runner import Runner

import mmka  # noqa: F401
from mmka.datasets import ensure_shapes_dataset
from mmka.utils import set_data_root

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEACHER_CFG = osp.join(REPO, 'configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t{}of2.py')
STUDENT_CFG = osp.join(REPO, 'configs/ka/shapes_2t.py')
ENSEMBLE_CFG = osp.join(REPO, 'configs/ka/shapes_2t-ensemble.py')
METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/shapes')
    parser.add_argument('--num-train', type=int, default=2000, help='generated train images')
    parser.add_argument('--num-val', type=int, default=500, help='generated val images')
    parser.add_argument('--teacher-epochs', type=int, default=None,
                        help="teacher epochs (default: the teacher config's 30)")
    parser.add_argument('--student-epochs', type=int, default=15,
                        help='student epochs (default 15, with the lr step at 12: the '
                        'student learns from trained teachers and needs fewer epochs '
                        'than the amalgamation config\'s 30)')
    parser.add_argument('--retrain', action='store_true',
                        help='train again even where checkpoints exist')
    return parser.parse_args(argv)


def configure(path: str, data_root: str, work_dir: str, epochs: Optional[int]) -> Config:
    """Load a config and point it at ``data_root``, ``work_dir`` and ``epochs``."""
    cfg = set_data_root(Config.fromfile(path), data_root.rstrip('/') + '/')
    cfg.work_dir = work_dir
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs
        for scheduler in cfg.get('param_scheduler', []):
            if scheduler.get('type') == 'MultiStepLR':  # keep the step at 5/6 of training
                scheduler.update(end=epochs, milestones=[max(1, epochs * 5 // 6)])
    return cfg


def train_or_reuse(cfg: Config, name: str, retrain: bool) -> str:
    """Train ``cfg`` unless its last checkpoint exists; returns that checkpoint."""
    last = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if retrain or not osp.isfile(last):
        print(f'[demo] training {name} for {cfg.train_cfg.max_epochs} epochs -> {last}',
              flush=True)
        Runner.from_cfg(cfg).train()
    else:
        print(f'[demo] reusing {name}: {last}', flush=True)
    return last


def evaluate(cfg: Config, checkpoint: Optional[str], name: str) -> Dict[str, float]:
    print(f'[demo] evaluating {name} on all classes', flush=True)
    cfg.load_from = checkpoint
    return Runner.from_cfg(cfg).test()


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    print(f'[demo] embedded data in {args.data_root} (generated if missing)', flush=True)
    ensure_shapes_dataset(args.data_root, num_train=args.num_train, num_val=args.num_val)
    work = osp.abspath(args.work_dir)

    teacher_ckpts = []
    for t in (1, 2):
        cfg = configure(TEACHER_CFG.format(t), args.data_root, osp.join(work, f'teacher{t}'),
                        args.teacher_epochs)
        teacher_ckpts.append(train_or_reuse(cfg, f'teacher {t}/2', args.retrain))
    teachers = [dict(config=TEACHER_CFG.format(t), checkpoint=c)
                for t, c in zip((1, 2), teacher_ckpts)]

    student_cfg = configure(STUDENT_CFG, args.data_root, osp.join(work, 'student'),
                            args.student_epochs)
    student_cfg.model.teachers = teachers
    student_ckpt = train_or_reuse(student_cfg, 'student (SA + TA + GT)', args.retrain)

    results = {}
    for t, teacher in enumerate(teachers, 1):  # a one-teacher ensemble: teacher t, 20 classes
        cfg = configure(ENSEMBLE_CFG, args.data_root, osp.join(work, f'eval_teacher{t}'), None)
        cfg.model.teachers = [teacher]
        results[f'Teacher_{t}'] = evaluate(cfg, None, f'teacher {t}')
    cfg = configure(ENSEMBLE_CFG, args.data_root, osp.join(work, 'eval_ensemble'), None)
    cfg.model.teachers = teachers
    results['Ensemble'] = evaluate(cfg, None, 'the ensemble')
    results['Student'] = evaluate(student_cfg, student_ckpt, 'the student')

    print('\n[demo] all 20 classes, val split (COCO-style AP):')
    print(f'  {"model":<10} {"AP":>7} {"AP50":>7} {"AP75":>7}')
    for name, metrics in results.items():
        print(f'  {name:<10} ' + ' '.join(f'{metrics[k]:7.3f}' for k in METRICS))
    print(f'[demo] done in {(time.time() - t0) / 60:.1f} min (work dir {work})')
    return results


if __name__ == '__main__':
    main()
