"""The main job on the embedded data (README: `make demo`): amalgamate N teachers.

1. generate the embedded shapes dataset if it is missing;
2. train the teachers of the partition (``shapes_2t``: 2, ``shapes_4t``: 4), several at once
   in separate processes when there are cores for it; checkpoints found in the work dir are
   reused;
3. amalgamate them into one student with SA + TA + ground truth (configs/ka/shapes_{N}t.py;
   reused when its checkpoint exists), the teachers running in bf16 on CPUs with native bf16;
4. evaluate Teacher_1..N, their Ensemble and the Student on all 20 classes (COCO AP, AP50,
   AP75) and on each teacher's classes (AP50), and print the table.

The defaults (teachers 10 epochs, student 6) took 13.2 and 21.6 minutes on two 2-core
machines from a clean work dir (``benchmarks/results/demo_2t.md``). ``--teacher-epochs 30
--student-epochs 15`` trains better models (about 2.5x as long). ``--family dino`` runs the
same with tiny DINO teachers and student (2 teachers; teachers 4 epochs, student 3 by
default, about 25 minutes): at 2 / 1 epochs it fits 15 minutes (11.9) but its student has
not learnt to detect yet (``benchmarks/results/demo_2t_dino.md``), so the Conditional DETR
is the default.

Every config, trained or evaluated, gets ``randomness.seed = --seed`` (default 0); the demo
prints the seed, the mmka commit and the teachers' precision with its table. A checkpoint
reused from the work dir keeps the seed it was trained with (``--retrain`` to redo it).

``--out FILE`` also writes the table as markdown, with the command, machine, date, commit,
seed, the minutes of each phase and whether each model was trained or reused: the demo's
results file (``benchmarks/results/demo_*.md``).

    python tools/demo.py [--partition shapes_2t|shapes_4t] [--family conditional-detr|dino]
                         [--work-dir work_dirs/demo_<partition>[_dino]]
                         [--data-root data/shapes] [--num-train 2000] [--num-val 500]
                         [--teacher-epochs 10] [--student-epochs 6] [--seed 0] [--jobs J]
                         [--retrain] [--out FILE]
"""
import argparse
import os
import os.path as osp
import shlex
import sys
import time
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.runner import Runner

import mmka  # noqa: F401
from mmka.datasets import ensure_shapes_dataset, get_partition
from mmka.utils import (last_checkpoint, machine, mmka_commit, provenance, run_training_jobs,
                        set_data_root, teacher_precision, use_cheap_teachers)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: Per family: teacher, student (SA + TA + GT) and Ensemble configs, formatted with
#: (teacher, number of teachers) / (number of teachers,), and the default epochs.
FAMILIES = {
    'conditional-detr': dict(
        teacher='configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t{}of{}.py',
        student='configs/ka/shapes_{}t.py', ensemble='configs/ka/shapes_{}t-ensemble.py',
        teacher_epochs=10, student_epochs=6),
    # The tiny DINO learns far faster per epoch but costs 2-3x per epoch; 4 / 3 epochs take
    # about 25 min (per-epoch times of benchmarks/results/demo_2t_dino.md, run at 2 / 1).
    'dino': dict(
        teacher='configs/teachers/dino_r18tiny_1xb16-12e_shapes-t{}of{}.py',
        student='configs/ka/shapes_{}t_dino.py', ensemble='configs/ka/shapes_{}t_dino-ensemble.py',
        teacher_epochs=4, student_epochs=3),
}
TRAIN_TOOL = osp.join(REPO, 'tools/train.py')
METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--partition', default='shapes_2t', choices=('shapes_2t', 'shapes_4t'))
    parser.add_argument('--family', default='conditional-detr', choices=tuple(FAMILIES),
                        help='the detector family of teachers and student (default '
                        'conditional-detr; dino: 2 teachers only)')
    parser.add_argument('--work-dir', default=None, help='default: work_dirs/demo_<partition>')
    parser.add_argument('--data-root', default='data/shapes')
    parser.add_argument('--num-train', type=int, default=2000, help='generated train images')
    parser.add_argument('--num-val', type=int, default=500, help='generated val images')
    parser.add_argument('--teacher-epochs', type=int, default=None,
                        help='teacher epochs (default 10 for conditional-detr, lr step at 8 '
                        '(its teacher configs train 30); 4 for dino)')
    parser.add_argument('--student-epochs', type=int, default=None,
                        help='student epochs (default 6 for conditional-detr, lr step at 5: '
                        'the student learns from trained teachers and needs fewer epochs; 3 '
                        'for dino)')
    parser.add_argument('--seed', type=int, default=0,
                        help='randomness.seed of every config (default 0)')
    parser.add_argument('--jobs', type=int, default=None,
                        help='teachers trained at once, each in its own process with '
                        'cores/jobs threads (default: as many as there are cores, at most N)')
    parser.add_argument('--retrain', action='store_true',
                        help='train again even where checkpoints exist')
    parser.add_argument('--out', default=None,
                        help='also write the table, timings and provenance to this markdown '
                        'file (e.g. benchmarks/results/demo_2t.md)')
    args = parser.parse_args(argv)
    family = FAMILIES[args.family]
    for name in ('teacher_epochs', 'student_epochs'):
        if getattr(args, name) is None:
            setattr(args, name, family[name])
    num = len(get_partition(args.partition))
    if not osp.isfile(osp.join(REPO, family['student'].format(num))):
        parser.error(f'--family {args.family} has no {num}-teacher configs '
                     f'({family["student"].format(num)}); use --partition shapes_2t')
    for name in ('teacher_epochs', 'student_epochs', 'num_train', 'num_val', 'jobs'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {value}')
    return args


def configure(path: str, data_root: str, work_dir: str, epochs: Optional[int],
              seed: int) -> Config:
    """Load a config and point it at ``data_root``, ``work_dir``, ``epochs`` and ``seed``.

    Training never validates: the demo evaluates every model once at the end.
    """
    cfg = set_data_root(Config.fromfile(path), data_root.rstrip('/') + '/')
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs + 1
        for scheduler in cfg.get('param_scheduler', []):
            if scheduler.get('type') == 'MultiStepLR':  # keep the step at 5/6 of training
                scheduler.update(end=epochs, milestones=[max(1, epochs * 5 // 6)])
    return cfg


def evaluate(cfg: Config, checkpoint: Optional[str], name: str,
             partitions: Dict[str, tuple]) -> Dict[str, float]:
    print(f'[demo] evaluating {name} on all classes', flush=True)
    cfg.load_from = checkpoint
    cfg.test_evaluator = dict(cfg.test_evaluator, type='PartitionCocoMetric',
                              partitions=partitions)
    return Runner.from_cfg(cfg).test()


def row_values(metrics: Dict[str, float], partitions: Dict[str, tuple]) -> list:
    """One model's columns: AP, AP50, AP75 on all classes, then AP50 on each teacher's."""
    return [metrics[k] for k in METRICS] + [metrics[f'coco/{p}_bbox_mAP_50'] for p in partitions]


def table_lines(results: Dict[str, Dict[str, float]], partitions: Dict[str, tuple]) -> list:
    """The demo's table as markdown (the columns of :func:`row_values`)."""
    header = ['AP', 'AP50', 'AP75'] + [f"AP50 on {p}'s classes" for p in partitions]
    lines = ['| model | ' + ' | '.join(header) + ' |', '|---' * (len(header) + 1) + '|']
    for name, metrics in results.items():
        values = row_values(metrics, partitions)
        lines.append(f'| {name} | ' + ' | '.join(f'{v:.3f}' for v in values) + ' |')
    return lines


def write_results(args, argv, results, partitions, minutes: Dict[str, float],
                  trained: Dict[str, bool], provenance_line: str) -> None:
    """``--out``: the demo's results file (markdown)."""
    command = 'python tools/demo.py ' + shlex.join(argv)
    reused = [name for name, was_trained in trained.items() if not was_trained]
    lines = [
        f'# Demo: {args.partition}, {args.family}', '',
        f'Command: `{command}`  ',
        f'Machine: {machine()}; {time.strftime("%Y-%m-%d")}.  ',
        f'Provenance: {provenance_line}.  ',
        f'Schedule: teachers {args.teacher_epochs} epochs, student {args.student_epochs} '
        f'(lr step at 5/6), {args.num_train} train / {args.num_val} val images; AP on the val '
        'split, all 20 classes unless stated.  ',
        'Minutes: ' + ', '.join(f'{k} {v:.1f}' for k, v in minutes.items()) + '; '
        + (f'reused from the work dir (not timed): {", ".join(reused)}.' if reused else
           'every model trained by this run.'), '',
        *table_lines(results, partitions), '']
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines))
    print(f'[demo] results written to {args.out}', flush=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    commit = mmka_commit()  # now: a commit made while the demo runs did not train it
    t0 = time.time()
    minutes, trained = {}, {}

    def phase(name: str, since: float) -> float:
        minutes[name] = (time.time() - since) / 60
        return time.time()

    num = len(get_partition(args.partition))
    args.data_root = osp.abspath(args.data_root)  # teacher processes run from the repo root
    family = {k: osp.join(REPO, v) if isinstance(v, str) else v
              for k, v in FAMILIES[args.family].items()}
    suffix = '' if args.family == 'conditional-detr' else f'_{args.family}'
    work = osp.abspath(args.work_dir or f'work_dirs/demo_{args.partition}{suffix}')
    print(f'[demo] {provenance([args.seed], commit=commit)} (randomness.seed of every config)',
          flush=True)
    print(f'[demo] embedded data in {args.data_root} (generated if missing)', flush=True)
    ensure_shapes_dataset(args.data_root, num_train=args.num_train, num_val=args.num_val)
    now = phase('data', t0)

    teacher_cfgs = [configure(family['teacher'].format(t, num), args.data_root,
                              osp.join(work, f'teacher{t}'), args.teacher_epochs, args.seed)
                    for t in range(1, num + 1)]
    todo = []
    for t, cfg in enumerate(teacher_cfgs, 1):
        trained[f'Teacher_{t}'] = args.retrain or not osp.isfile(last_checkpoint(cfg))
        if trained[f'Teacher_{t}']:
            todo.append((f'teacher {t}/{num}', cfg))
        else:
            print(f'[demo] reusing teacher {t}/{num}: {last_checkpoint(cfg)}', flush=True)
    if todo:
        run_training_jobs(todo, TRAIN_TOOL, args.jobs or min(len(todo), os.cpu_count() or 1),
                          log=lambda msg: print(f'[demo] {msg}', flush=True))
    teachers = [dict(config=family['teacher'].format(t, num), checkpoint=last_checkpoint(c))
                for t, c in enumerate(teacher_cfgs, 1)]
    now = phase('teachers', now)

    student_cfg = configure(family['student'].format(num), args.data_root,
                            osp.join(work, 'student'),
                            args.student_epochs, args.seed)
    student_cfg.model.teachers = teachers
    use_cheap_teachers(student_cfg)
    student_ckpt = last_checkpoint(student_cfg)
    trained['Student'] = args.retrain or not osp.isfile(student_ckpt)
    if trained['Student']:
        print(f'[demo] training the student (SA + TA + GT) for {args.student_epochs} epochs '
              f'-> {student_ckpt}', flush=True)
        Runner.from_cfg(student_cfg).train()
    else:
        print(f'[demo] reusing the student: {student_ckpt}', flush=True)
    now = phase('student', now)

    partitions = {f'T{t}': classes for t, classes in enumerate(get_partition(args.partition), 1)}
    results, precisions = {}, {}
    for t, teacher in enumerate(teachers, 1):  # a one-teacher ensemble: teacher t, 20 classes
        cfg = configure(family['ensemble'].format(num), args.data_root,
                        osp.join(work, f'eval_teacher{t}'), None, args.seed)
        cfg.model.teachers = [teacher]
        results[f'Teacher_{t}'] = evaluate(cfg, None, f'teacher {t}', partitions)
        precisions[f'Teacher_{t}'] = teacher_precision(cfg)
    cfg = configure(family['ensemble'].format(num), args.data_root, osp.join(work, 'eval_ensemble'),
                    None, args.seed)
    cfg.model.teachers = teachers
    results['Ensemble'] = evaluate(cfg, None, 'the ensemble', partitions)
    precisions['Ensemble'] = teacher_precision(cfg)
    results['Student'] = evaluate(student_cfg, student_ckpt, 'the student', partitions)
    precisions['Student'] = teacher_precision(student_cfg)
    phase('evaluation', now)
    minutes['total'] = (time.time() - t0) / 60

    print(f'\n[demo] {args.partition}, {args.family}: all 20 classes, val split (COCO-style '
          'AP); AP50 on each teacher\'s classes')
    header = ['AP', 'AP50', 'AP75'] + [f'AP50@{p}' for p in partitions]
    print(f'  {"model":<10} ' + ' '.join(f'{h:>8}' for h in header))
    for name, metrics in results.items():
        print(f'  {name:<10} ' + ' '.join(f'{v:8.3f}' for v in row_values(metrics, partitions)))
    provenance_line = provenance([args.seed], precisions, commit)
    print(f'[demo] {provenance_line}')
    print(f"[demo] done in {minutes['total']:.1f} min (work dir {work})")
    if args.out:
        write_results(args, argv, results, partitions, minutes, trained, provenance_line)
    return results


if __name__ == '__main__':
    main()
