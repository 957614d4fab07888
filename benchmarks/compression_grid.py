"""A slim student's AP under each test-time compression rule: training rule or test rule?

    python benchmarks/compression_grid.py [reproduce_table1.py's model options]
        [--only ROW ...] [--seeds 0 1] [--out FILE]

Student_slim keeps one of the N encoder segments per position (paper §III-B3, Alg. 1), and
the paper's Fig. 6b ranks three ways of choosing it: redundancy > isometric > random. A
slim row's rule acts twice, though: in training it decides which segment each position's
encoder, decoder and heads learn from, and at test it decides which segment they read. This
script trains nothing: it reads the slim rows that ``benchmarks/reproduce_table1.py``
trained with the same options (``--family``, ``--size``, ``--teacher-epochs``,
``--student-epochs``, ``--teacher-init``, ``--partition``, ``--seeds``, ``--work-dir``; the
same work dirs) and evaluates every trained (row, seed) checkpoint once per test rule:

* ``redundancy``: Alg. 1 on the student's own X_S (the paper's evaluation);
* ``isometric``: position i keeps segment i mod N;
* ``random``: one seeded draw per position (the compressor's evaluation draw).

A row's own test rule is the evaluation Table I reports (its "Table I" column, read from
``reproduce_table1.py``'s cached evaluation, must equal that cell). If a row scores about
the same under every test rule, what made it good or bad was its training rule.

Rows: by default every row of the family whose student compresses its sequence
(``Student_slim``, ``slim isometric``, ``slim random``, ``slim, student guide``);
untrained (row, seed) pairs are named and skipped. The results file (default
``benchmarks/results/compression_grid_<table1 suffix>.md``) states the command, commit,
machine and date.
"""
import argparse
import datetime
import os.path as osp
import shlex
import sys
from typing import Dict, List

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import reproduce_table1 as table1  # noqa: E402  (the models, work dirs and data it trained)
from compression_mismatch import cached_ap, evaluate_ap  # noqa: E402

from mmdet.utils import register_all_modules  # noqa: E402
from mmka.utils import machine, mmka_commit  # noqa: E402
from table1_rows import trained_student_jobs, trained_teacher_jobs  # noqa: E402

REPO = table1.REPO
#: Test-time rules: the compressor options each sets for one evaluation. Redundancy is
#: measured on X_S, the only sequence a deployed student has; ``train_guide`` acts in
#: training only, and 'student' spares the amalgamator the teachers' neck recorders that
#: an X_T-guided row would attach and this evaluation would never read.
TEST_RULES = {
    'redundancy': dict(strategy='redundancy', train_guide='student', eval_guide='student'),
    'isometric': dict(strategy='isometric'),
    'random': dict(strategy='random'),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Other options are reproduce_table1.py\'s and select its models.')
    parser.add_argument('--out', default=None, help='markdown results file')
    own, rest = parser.parse_known_args(argv)
    args = table1.parse_args(rest)
    suffix = osp.basename(args.out)[len('table1_'):]  # its default Table I file's suffix
    args.out = own.out or osp.join(REPO, 'benchmarks/results', f'compression_grid_{suffix}')
    if args.only is None:
        family = table1.FAMILIES[args.family]
        args.only = [n for n in family['students']
                     if training_rule(table1.student_job(n, args, [], 0)) is not None]
    elif not args.only:
        parser.error('--only: name at least one slim row, e.g. Student_slim')
    return args


def training_rule(cfg):
    """How the row's student chooses P_slim in training, e.g. ``'redundancy on X_T'``;
    None if it does not compress."""
    compression = cfg.model.get('student', {}).get('compression') or {}
    strategy = compression.get('strategy', 'none')
    if strategy == 'none':
        return None
    if strategy == 'redundancy':
        guide = compression.get('train_guide', 'teachers')
        return f"redundancy on {'X_T' if guide == 'teachers' else 'X_S'}"
    return strategy


def refuse_unslim(name: str, cfg) -> None:
    """Refuse a row whose student does not compress (``--only`` names it)."""
    if training_rule(cfg) is None:
        raise ValueError(f'--only {name!r}: its student keeps every segment (compression '
                         'strategy none), so there is no rule to swap; name a slim row such '
                         'as Student_slim.')


def main(argv=None) -> List[Dict]:
    args = parse_args(argv)
    register_all_modules()
    commit = mmka_commit()
    teachers = trained_teacher_jobs(args)
    records = []
    for name, seed, cfg, checkpoint in trained_student_jobs(args, teachers, 'grid',
                                                            check=refuse_unslim):
        record = dict(row=name, seed=seed, training_rule=training_rule(cfg),
                      work_dir=osp.basename(cfg.work_dir), table_ap=cached_ap(args, cfg),
                      ap={test: evaluate_ap(cfg, checkpoint, **options)
                          for test, options in TEST_RULES.items()})
        print(f'[grid] {record}', flush=True)
        records.append(record)
    write_report(args, records, commit, argv)
    return records


def write_report(args, records: List[Dict], commit: str, argv=None) -> None:
    pct = lambda v: '—' if v is None else f'{100 * v:.1f}'  # noqa: E731
    command = 'python benchmarks/compression_grid.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    lines = [
        '# A slim student under each test-time compression rule (paper Fig. 6b)', '',
        f'`{command}`', '',
        f'mmka {commit}; {machine()}; {datetime.date.today().isoformat()}; '
        f'{args.family}, partition {args.partition}, size {args.size}, students '
        f'{args.student_epochs} epochs, teachers {args.teacher_epochs} epochs '
        f'({args.teacher_init}); work dir {osp.relpath(args.work_dir, REPO)}.', '',
        'AP on all classes of the val set. Each checkpoint is evaluated once per test rule '
        '(P_slim chosen at test by redundancy on the student\'s X_S, as the paper; '
        'isometric; random, one seeded draw); the training rule is the one it learned '
        "under. Table I: the row's own evaluation as `reproduce_table1.py` cached it (— "
        'if not cached); it equals the cell of the test rule that matches the training '
        'rule.', '',
        '| row | seed | training rule | Table I | test: redundancy (X_S) | test: isometric '
        '| test: random | spread over test rules |',
        '|---|---|---|---|---|---|---|---|']
    for r in records:
        aps = list(r['ap'].values())
        lines.append(f"| {r['row']} | {r['seed']} | {r['training_rule']} | "
                     f"{pct(r['table_ap'])} | "
                     + ' | '.join(pct(r['ap'][test]) for test in TEST_RULES)
                     + f' | {100 * (max(aps) - min(aps)):.1f} |')
    if not records:
        lines.append('| — | — | no trained slim row for these options | | | | | |')
    lines += ['', 'Work dirs: ' + ', '.join(f"`{r['work_dir']}`" for r in records)]
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[grid] wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
