"""KD-DETR vs the same student trained on ground truth only, on the embedded shapes data.

    python benchmarks/kd_detr.py [--family conditional_detr|detr|dab_detr]
        [--size quick|medium|full] [--seed 0] [--steps 10] [--jobs J]
        [--work-dir work_dirs/kd_detr] [--out benchmarks/results/kd_detr_<family>[_size].md]

Trains (or reuses) the teacher, the family's embedded Raw baseline at the teacher schedule of
``reproduce_table1.py``'s size, then two students at one student schedule, at once: the
small student of ``configs/kd/shapes_<family>.py`` on ground truth alone, and the same
student distilled by KD-DETR (``KDDETRDistiller``). Evaluates all three on the val split
(COCO AP / AP50 / AP75 on all 20 classes) and measures the training-step time KD / plain
(median of ``--steps`` steps after 3 warm-up steps, same real batches, same process).
Resumable exactly as ``reproduce_table1.py``: models live under a hash of their config.
``--seed`` is every config's ``randomness.seed``; the timed models (built outside a Runner)
and their batches are seeded with it too. The report states it, the mmka commit and the
teacher's precision.
"""
import argparse
import copy
import os
import os.path as osp
import statistics
import sys
import time
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import set_random_seed

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from mmdet.registry import MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

from amalgamation_step import batches  # noqa: E402
from reproduce_table1 import evaluate  # noqa: E402
from table1_rows import SIZES, keyed, schedule  # noqa: E402
from table1_report import provenance_of_cache  # noqa: E402
from mmka.datasets import ensure_shapes_dataset  # noqa: E402
from mmka.utils import (last_checkpoint, machine, mmka_commit, provenance,  # noqa: E402
                        run_training_jobs, teacher_precision)

FAMILIES = ('conditional_detr', 'detr', 'dab_detr')
KD_CFG = 'configs/kd/shapes_{}.py'
TEACHER_CFG = 'configs/baselines/{}_r18tiny_1xb16-30e_shapes.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--family', default='conditional_detr', choices=FAMILIES)
    parser.add_argument('--size', default='medium', choices=tuple(SIZES))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--steps', type=int, default=10,
                        help='timed training steps per model for the step-time ratio')
    parser.add_argument('--jobs', type=int, default=None,
                        help='students trained at once (default: the number of CPU cores)')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--out', default=None)
    args = parser.parse_args(argv)
    quick = '_quick' if args.size == 'quick' else ''
    args.work_dir = osp.abspath(args.work_dir or f'work_dirs/kd_detr{quick}')
    args.data_root = osp.abspath(args.data_root or f'data/shapes{quick}')
    suffix = '' if args.size == 'medium' else f'_{args.size}'
    args.out = args.out or osp.join(REPO,
                                    f'benchmarks/results/kd_detr_{args.family}{suffix}.md')
    return args


def configs(args):
    """The teacher, the plain student and the KD student, scheduled and keyed."""
    size = SIZES[args.size]
    name = args.family.replace('_', '-')
    teacher = keyed(schedule(TEACHER_CFG.format(name), args, size['teacher_epochs'], args.seed),
                    f'{name}-teacher', args.work_dir)
    kd = schedule(KD_CFG.format(name), args, size['student_epochs'], args.seed)
    kd.model.teacher = dict(config=osp.join(REPO, TEACHER_CFG.format(name)),
                            checkpoint=last_checkpoint(teacher))
    plain = copy.deepcopy(kd)
    plain.model = copy.deepcopy(kd.model.student)
    return (teacher, keyed(plain, f'{name}-student-gt', args.work_dir),
            keyed(kd, f'{name}-student-kd', args.work_dir))


def step_time(cfg: Config, data, steps: int, seed: int) -> float:
    """Median seconds of one optimizer step (data preprocessing included) on ``data``.

    The model is built and initialised after ``set_random_seed(seed)``.
    """
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    times = []
    for i, batch in enumerate(data[:3 + steps]):
        start = time.perf_counter()
        batch = model.data_preprocessor(batch, training=True)
        loss, _ = model.parse_losses(model(**batch, mode='loss'))
        optim.update_params(loss)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(name: str, result: dict) -> str:
    m = result['metrics']
    minutes = result.get('train_seconds')
    return (f"| {name} | {100 * m['coco/bbox_mAP']:.1f} | {100 * m['coco/bbox_mAP_50']:.1f} | "
            f"{100 * m['coco/bbox_mAP_75']:.1f} | {result['params'] / 1e6:.3f} M | "
            f"{result['flops'] / 1e9:.3f} G | "
            f"{'-' if minutes is None else f'{minutes / 60:.1f}'} |")


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    register_all_modules()
    size = SIZES[args.size]
    ensure_shapes_dataset(args.data_root, num_train=size['num_train'], num_val=size['num_val'])
    log = lambda msg: print(f'[kd_detr] {msg}', flush=True)  # noqa: E731
    train_tool = osp.join(REPO, 'tools/train.py')
    commit = mmka_commit()  # now: a commit made during the run must not be credited with it
    log(f'mmka {commit}; randomness.seed {args.seed}')
    teacher, plain, kd = configs(args)
    for stage in ([teacher], [plain, kd]):
        todo = [(osp.basename(c.work_dir), c) for c in stage
                if not osp.isfile(last_checkpoint(c))]
        parallel = min(args.jobs or os.cpu_count() or 1, max(1, len(todo)))
        run_training_jobs(todo, train_tool, parallel, log=log)
    results = {}
    for name, cfg, model_cfg in (('Teacher', teacher, teacher.model),
                                 ('Student, ground truth only', plain, plain.model),
                                 ('Student, KD-DETR', kd, kd.model.student)):
        log(f'evaluating {name}')
        results[name] = evaluate(cfg, last_checkpoint(cfg), {}, model_cfg.to_dict(),
                                 cfg.work_dir)
    log(f'timing {args.steps} training steps of each student (seed {args.seed})')
    set_random_seed(args.seed)  # the batches' random augmentations
    data = batches(plain, plain.train_dataloader.batch_size, 3 + args.steps)
    times = {name: step_time(cfg, data, args.steps, args.seed)
             for name, cfg in (('plain', plain), ('kd', kd))}
    precisions = {'Student, KD-DETR': teacher_precision(kd)}
    write_report(args, size, results, times, (time.time() - start) / 60, precisions, commit)


def write_report(args, size: dict, results: dict, times: dict, minutes: float,
                 precisions: Optional[Dict[str, Optional[str]]] = None,
                 commit: Optional[str] = None) -> None:
    """Write ``args.out``; ``precisions``: the teacher's precision by model name (KD-DETR's
    distiller), see :func:`mmka.utils.provenance`; ``commit``: the mmka commit the run
    started at (default: HEAD now)."""
    commit = commit or mmka_commit()
    plain, kd = results['Student, ground truth only'], results['Student, KD-DETR']
    gain = 100 * (kd['metrics']['coco/bbox_mAP'] - plain['metrics']['coco/bbox_mAP'])
    command = f'python benchmarks/kd_detr.py --family {args.family} --size {args.size} ' \
              f'--seed {args.seed} --steps {args.steps}'
    lines = [
        f'# KD-DETR on the embedded data ({args.family})', '',
        f'Command: `{command}`  ',
        f'Machine: {machine()}; {time.strftime("%Y-%m-%d")}; wall time of this '
        f'invocation {minutes:.1f} min (cached models are not retrained).  ',
        f'Provenance: {provenance([args.seed], precisions, commit)}.  ',
        *provenance_of_cache({name: [result] for name, result in results.items()}, commit),
        f"Schedule: teacher {size['teacher_epochs']} epochs, students {size['student_epochs']} "
        f"epochs each (lr step at 5/6), {size['num_train']} train / {size['num_val']} val "
        f'images; COCO metrics on all 20 classes of the val split (AP in points).', '',
        '| model | AP | AP50 | AP75 | params | FLOPs | train (min) |',
        '|---|---|---|---|---|---|---|',
        *(row(name, result) for name, result in results.items()), '',
        f'- KD-DETR vs ground truth only: **{gain:+.1f} AP** at the same schedule',
        f"- training step time KD / plain: **{times['kd'] / times['plain']:.2f}** "
        f"({times['kd']:.3f} s / {times['plain']:.3f} s, median of {args.steps} steps, "
        'batch of the training config)',
    ]
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
