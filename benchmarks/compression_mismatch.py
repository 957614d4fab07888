"""What the paper's train / evaluation token mismatch costs a slim student (§III-B3).

    python benchmarks/compression_mismatch.py [reproduce_table1.py's model options]
        [--only Student_slim ...] [--seeds 0 1] [--num-images N] [--out FILE]

The paper chooses P_slim by Algorithm 1 on the teachers' projections X_T in training and on
the student's own X_S at evaluation, so a slim student may be evaluated on other tokens than
it was trained on. This script trains nothing: it reads the slim rows that
``benchmarks/reproduce_table1.py`` trained with the same options (``--family``, ``--size``,
``--teacher-epochs``, ``--student-epochs``, ``--teacher-init``, ``--partition``,
``--seeds``; the same work dirs) and, for every trained (row, seed), gives

* AP with P_slim on X_S (the paper's evaluation; what Table I reports);
* AP of the same checkpoint with P_slim on X_T (``compression.eval_guide='teachers'``: the
  tokens training would keep; it needs the teachers at test time, so it is a diagnostic,
  not a deployable model);
* the share of valid positions where the two rules keep the same segment
  (:func:`mmka.utils.analysis.compression_agreement`, over the first ``--num-images`` val
  images; 1/N is chance);
* the Student's AP (same seed), if ``reproduce_table1.py`` has evaluated it;
* the share of the tokens of X_S with redundancy R > 0.5 (eq. 8; per level for multi-scale
  students), of the slim student and of the Student (paper Fig. 6a: over half of its
  student's tokens, "which makes it possible to train a relatively compact student with
  limited performance degradation").

Rows: by default every row of the family whose student compresses by redundancy with the
teachers guiding training (``Student_slim``); ``--only`` names others (rows whose training
already chooses on X_S, such as ``slim, student guide``, have no mismatch and are refused).
The results file (default ``benchmarks/results/compression_mismatch_<table1 suffix>.md``)
states the command, commit, machine, date and the teachers' precision.
"""
import argparse
import copy
import datetime
import json
import os.path as osp
import shlex
import sys
from typing import Dict, List, Optional

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import reproduce_table1 as table1  # noqa: E402  (the models, work dirs and data it trained)
from mmengine.runner import Runner  # noqa: E402

from mmdet.utils import register_all_modules  # noqa: E402
from mmka.utils import (last_checkpoint, machine, mmka_commit, set_num_workers,  # noqa: E402
                        teacher_precision)
from mmka.utils.analysis import (build_ka_student, build_teachers,  # noqa: E402
                                 compression_agreement, extended_redundancy, load_items,
                                 preprocess)
from table1_rows import trained_student_jobs, trained_teacher_jobs  # noqa: E402

REPO = table1.REPO


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Other options are reproduce_table1.py\'s and select its models.')
    parser.add_argument('--num-images', type=int, default=None,
                        help='val images for the agreement (default: all)')
    parser.add_argument('--out', default=None, help='markdown results file')
    own, rest = parser.parse_known_args(argv)
    if own.num_images is not None and own.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {own.num_images}')
    args = table1.parse_args(rest)
    suffix = osp.basename(args.out)[len('table1_'):]  # its default Table I file's suffix
    args.out = own.out or osp.join(REPO, 'benchmarks/results',
                                   f'compression_mismatch_{suffix}')
    args.num_images = own.num_images
    if args.only is None:
        family = table1.FAMILIES[args.family]
        args.only = [n for n in family['students']
                     if teacher_guided(table1.student_job(n, args, [], 0))]
    elif not args.only:
        parser.error('--only: name at least one slim row, e.g. Student_slim')
    return args


def teacher_guided(cfg) -> bool:
    """Whether the row's student compresses by redundancy with X_T guiding training."""
    compression = cfg.model.get('student', {}).get('compression') or {}
    return compression.get('strategy') == 'redundancy' and \
        compression.get('train_guide', 'teachers') == 'teachers'


def refuse_unguided(name: str, cfg) -> None:
    """Refuse a row whose training keeps tokens by the same rule as its evaluation."""
    if not teacher_guided(cfg):
        raise ValueError(f'--only {name!r}: its student does not choose P_slim on the '
                         "teachers' X_T in training, so training and evaluation keep tokens "
                         'by the same rule; name a row such as Student_slim.')


def evaluate_ap(cfg, checkpoint: str, **compression) -> float:
    """COCO AP of ``checkpoint`` on the val set, the student's ``compression`` options
    replaced by ``compression`` (e.g. ``eval_guide='teachers'``, ``strategy='random'``)
    for this evaluation only."""
    cfg = set_num_workers(copy.deepcopy(cfg), 0)
    cfg.model.student.compression = dict(cfg.model.student.compression, **compression)
    cfg.load_from = checkpoint
    # The test log goes to the row's work dir, as reproduce_table1.py's evaluation's does
    # (mmdet's one named visualizer keeps the first runner's directory: it must outlive
    # this call).
    return Runner.from_cfg(cfg).test()['coco/bbox_mAP']


def sequence_measures(cfg, checkpoint: str, num_images: Optional[int],
                      with_agreement: bool = True) -> Dict[str, Optional[float]]:
    """Over the first ``num_images`` val images (all if None), in batches of 16:
    ``agreement``, the mean of :func:`compression_agreement` (None without
    ``with_agreement``), and ``redundant``, the share of the valid tokens of X_S with
    R > 0.5 (:func:`extended_redundancy`)."""
    student = build_ka_student(cfg, checkpoint, purpose='compression_mismatch')
    teachers = [model for model, _ in build_teachers(cfg)] if with_agreement else []
    items = load_items(cfg, num_images or sys.maxsize)  # at most the dataset
    agreements, redundancy = [], []
    for i in range(0, len(items), 16):
        data = preprocess(student, items[i:i + 16])
        redundancy.append(extended_redundancy(student, data)['redundancy'])
        if with_agreement:
            agreements.append(compression_agreement(
                student, teachers, data, cfg.model.get('teacher_dtype')))
    return dict(agreement=float(np.concatenate(agreements).mean()) if with_agreement else None,
                redundant=float((np.concatenate(redundancy) > 0.5).mean()))


def cached_ap(args, cfg) -> Optional[float]:
    """The all-class AP of the row of ``cfg`` as reproduce_table1.py cached it."""
    partitions = {f'T{t}': c for t, c in
                  enumerate(table1.get_partition(args.partition), 1)}
    path = table1.result_path(cfg.work_dir, partitions)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)['metrics']['coco/bbox_mAP']


def main(argv=None) -> List[Dict]:
    args = parse_args(argv)
    register_all_modules()
    commit = mmka_commit()
    teachers = trained_teacher_jobs(args)
    records, precision = [], None
    for name, seed, cfg, checkpoint in trained_student_jobs(args, teachers, 'mismatch',
                                                            check=refuse_unguided):
        precision = teacher_precision(cfg)
        student = table1.student_job('Student', args, teachers, seed)
        trained = osp.isfile(last_checkpoint(student))
        slim = sequence_measures(cfg, checkpoint, args.num_images)
        record = dict(row=name, seed=seed, work_dir=osp.basename(cfg.work_dir),
                      ap_student_rule=evaluate_ap(cfg, checkpoint, eval_guide='student'),
                      ap_teacher_rule=evaluate_ap(cfg, checkpoint, eval_guide='teachers'),
                      agreement=slim['agreement'], redundant=slim['redundant'],
                      student_ap=cached_ap(args, student) if trained else None,
                      student_redundant=sequence_measures(
                          student, last_checkpoint(student), args.num_images,
                          with_agreement=False)['redundant'] if trained else None)
        print(f'[mismatch] {record}', flush=True)
        records.append(record)
    write_report(args, records, commit, precision, argv)
    return records


def write_report(args, records: List[Dict], commit: str, precision: Optional[str],
                 argv=None) -> None:
    pct = lambda v: '—' if v is None else f'{100 * v:.1f}'  # noqa: E731
    command = 'python benchmarks/compression_mismatch.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    lines = [
        '# The train / evaluation token mismatch of the slim student (paper §III-B3)', '',
        f'`{command}`', '',
        f'mmka {commit}; {machine()}; {datetime.date.today().isoformat()}; '
        f'{args.family}, partition {args.partition}, size {args.size}, students '
        f'{args.student_epochs} epochs, teachers {args.teacher_epochs} epochs '
        f'({args.teacher_init}); teachers run in {precision or "—"}; agreement over '
        f'{args.num_images or "all"} val images.', '',
        'AP on all classes of the val set, the same checkpoint evaluated twice: P_slim chosen '
        "on the student's X_S (the paper's evaluation) and on the teachers' X_T "
        "(`compression.eval_guide='teachers'`, the tokens training keeps; a diagnostic, "
        'not deployable). Agreement: share of valid positions where both rules keep the '
        'same segment (chance 1/N). Student: the unslimmed Student of the same seed. '
        'R > 0.5: share of the tokens of X_S (the input projections, before compression) '
        'whose redundancy (eq. 8, within each feature level) exceeds 0.5, over the same '
        'images; the paper (Fig. 6a) finds over half.', '',
        '| row | seed | AP, X_S (paper) | AP, X_T | X_T − X_S | agreement | Student AP | '
        'share of the gap to the Student the mismatch explains | R > 0.5, slim / Student |',
        '|---|---|---|---|---|---|---|---|---|']
    for r in records:
        diff = r['ap_teacher_rule'] - r['ap_student_rule']
        gap = None if r['student_ap'] is None else r['student_ap'] - r['ap_student_rule']
        share = '—' if not gap or gap <= 0 else f'{diff / gap:.0%}'
        redundant = ' / '.join('—' if v is None else f'{v:.0%}'
                               for v in (r['redundant'], r['student_redundant']))
        lines.append(f"| {r['row']} | {r['seed']} | {pct(r['ap_student_rule'])} | "
                     f"{pct(r['ap_teacher_rule'])} | {100 * diff:+.1f} | "
                     f"{r['agreement']:.1%} | {pct(r['student_ap'])} | {share} | "
                     f"{redundant} |")
    if not records:
        lines.append('| — | — | no trained slim row for these options | | | | | | |')
    lines += ['', 'Work dirs: ' + ', '.join(f"`{r['work_dir']}`" for r in records)]
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[mismatch] wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
