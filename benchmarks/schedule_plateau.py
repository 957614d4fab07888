"""Where a model's learning curve flattens: the schedule S of the convergence study.

    python benchmarks/schedule_plateau.py [--config CFG] [--schedules 12 24 48]
        [--seeds 0 [1 ...]] [--val-interval 4] [--jobs 2] [--report-only]
        [--work-dir work_dirs/plateau] [--out benchmarks/results/plateau_<config>.md]

Trains ``--config`` (default: Raw, the tiny Conditional DETR on all 20 classes) from scratch
on the medium embedded data (2000 train / 500 val images) once per schedule and seed, each
a full schedule of its own (warm-up, lr step at 5/6), validating every ``--val-interval``
epochs. S is the shortest schedule whose final AP is within 1 AP of the schedule twice as
long (means over seeds): past S, a longer schedule buys less than 1 AP, so comparisons of
training recipes at S are not decided by a head start on the steep part of the curve.

The report (a table of final AP per schedule and seed, every validation of every run, the
rule's verdict) is written after training, and by ``--report-only`` at any time from what
the runs have logged so far: runs still training show their partial curves and no final AP.
Runs are cached by config (as in ``reproduce_table1.py``): a rerun trains only what is
missing, and a run stopped part-way resumes from its last validation's checkpoint. A
finished run's curve and train time are also written to ``--records`` (default
``benchmarks/results/records``, committed; see ``records.py``): a rerun on another machine,
where the work dirs are gone, reports it without training it again.

``--import-report FILE`` turns the runs of a report written before records existed (by this
script, same ``--config`` and ``--val-interval``) into records, each marked with the file
and commit it came from and the precision that file printed (AP to 0.1 points, train time to
the minute), then reports as usual.
"""
import argparse
import os
import re
import subprocess
import os.path as osp
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Dict, List, Optional

from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import mmka  # noqa: E402,F401
from mmka.datasets import ensure_shapes_dataset  # noqa: E402
from mmka.utils import (last_checkpoint, machine, mmka_commit, provenance,  # noqa: E402
                        run_training_jobs)
import records  # noqa: E402
from reproduce_table1 import curve_record, learning_curve  # noqa: E402
from table1_rows import keyed, resumable, schedule  # noqa: E402

RAW = 'configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py'
NUM_TRAIN, NUM_VAL = 2000, 500  # the medium embedded data of the Table I study
WITHIN_AP = 1.0  # points


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=RAW)
    parser.add_argument('--schedules', type=int, nargs='+', default=[12, 24, 48])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--val-interval', type=int, default=4)
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs trained at once; each gets cores / jobs threads')
    parser.add_argument('--report-only', action='store_true',
                        help='write the report from what the runs logged so far')
    parser.add_argument('--data-root', default='data/shapes')
    parser.add_argument('--work-dir', default='work_dirs/plateau')
    parser.add_argument('--records', default=records.RECORDS,
                        help='where finished runs are recorded, to be committed')
    parser.add_argument('--import-report', default=None, metavar='FILE',
                        help='record the runs of a report written before records existed')
    parser.add_argument('--out', default=None)
    args = parser.parse_args(argv)
    name = osp.splitext(osp.basename(args.config))[0]
    args.out = args.out or osp.join(REPO, f'benchmarks/results/plateau_{name}.md')
    args.work_dir, args.data_root = osp.abspath(args.work_dir), osp.abspath(args.data_root)
    args.records = osp.abspath(args.records)
    return args


def run_cfg(args, epochs: int, seed: int) -> Config:
    """``--config`` at ``epochs`` (lr step at 5/6), validated every ``--val-interval``
    (mmengine also validates the last epoch); the Table I script's schedule otherwise."""
    table1 = SimpleNamespace(size='medium', data_root=args.data_root)
    cfg = schedule(args.config, table1, epochs, seed)
    cfg.train_cfg.val_interval = args.val_interval
    return resumable(keyed(cfg, f'e{epochs}-seed{seed}', args.work_dir))


def import_report(args, path: str) -> List[tuple]:
    """Record every finished run of the report ``path`` (written by this script before
    records existed) under the key its schedule and seed have now; returns their
    ``(epochs, seed)``. Refuses a report of another config or validation interval."""
    with open(path) as f:
        text = f.read()
    config = re.search(r'^# Schedule plateau: `(.+)`$', text, re.M)
    interval = re.search(r'--val-interval (\d+)', text)
    if not config or config.group(1) != osp.basename(args.config) or not interval or \
            int(interval.group(1)) != args.val_interval:
        raise ValueError(f'--import-report {path}: not a report of --config {args.config} '
                         f'with --val-interval {args.val_interval}.')
    commit = subprocess.run(['git', '-C', REPO, 'log', '-1', '--format=%h', '--', path],
                            capture_output=True, text=True).stdout.strip() or 'uncommitted'
    minutes = {(int(e), int(s)): int(m) for e, s, m in
               re.findall(r'^\| (\d+) \| (\d+) \| [\d.]+ \| (\d+) \|$', text, re.M)}
    path = osp.abspath(path)
    shown = osp.relpath(path, REPO) if path.startswith(REPO + os.sep) else path
    imported = []
    for epochs, seed, points in re.findall(r'^\| (\d+) \| (\d+) \| (\d+: .*) \|$', text,
                                           re.M):
        key = int(epochs), int(seed)
        curve = [[int(ep), round(float(ap) / 100, 4), None] for ep, ap in
                 (point.split(': ') for point in points.split(', '))]
        if key not in minutes or curve[-1][0] != key[0]:
            continue  # not finished when that report was written
        cfg = run_cfg(args, *key)
        if not records.exists(cfg.work_dir, 'curve.json', args.records):
            records.save(cfg.work_dir, 'curve.json', dict(
                curve=curve, train_seconds=60 * minutes[key],
                imported_from=f'{shown} at {commit}',
                precision='AP to 0.1 points, AP50 not printed, train time to the minute'),
                args.records)
        imported.append(key)
    return imported


def final_ap(curve: List[list], epochs: int) -> Optional[float]:
    """AP in points at the last epoch, None while the run has not got there."""
    last = [ap for epoch, ap, _ in curve if epoch == epochs]
    return 100 * last[0] if last else None


def verdict(finals: Dict[int, List[float]]) -> str:
    """S by the rule (means over seeds), or why it is not decided yet."""
    means = {e: statistics.mean(v) for e, v in finals.items() if v}
    for epochs in sorted(means):
        if 2 * epochs in means:
            gap = means[2 * epochs] - means[epochs]
            if gap <= WITHIN_AP:
                return (f'**S = {epochs} epochs**: {means[epochs]:.1f} AP, within {WITHIN_AP:g} '
                        f'AP of {2 * epochs} epochs ({means[2 * epochs]:.1f} AP, '
                        f'{gap:+.1f}).')
    pairs = [f'{e} -> {2 * e} epochs: {means[2 * e] - means[e]:+.1f} AP'
             for e in sorted(means) if 2 * e in means]
    longest = max(means) if means else None
    return ('Not decided: no finished schedule is within 1 AP of the schedule twice as long'
            + (f' ({"; ".join(pairs)})' if pairs else '') +
            (f'. Next: {2 * longest} epochs.' if longest else '.'))


def write_report(args, runs: Dict[tuple, Config], minutes: float,
                 commit: Optional[str] = None) -> None:
    """Write ``args.out``; ``commit``: the mmka commit the invocation started at (default:
    HEAD now)."""
    recorded = {key: curve_record(cfg, args.records, commit) for key, cfg in runs.items()}
    curves = {key: rec['curve'] if rec else learning_curve(runs[key].work_dir)
              for key, rec in recorded.items()}
    finals: Dict[int, List[float]] = {e: [] for e in args.schedules}
    rows = []
    for (epochs, seed), curve in curves.items():
        ap = final_ap(curve, epochs)
        seconds = (recorded[epochs, seed] or {}).get('train_seconds')
        if ap is not None:
            finals[epochs].append(ap)
        done = max((e for e, _, _ in curve), default=0)
        if ap is not None:
            cell = f'{ap:.1f}'
        elif osp.isfile(osp.join(runs[epochs, seed].work_dir, 'train.log')):
            cell = f'training (validated to epoch {done})'
        else:
            cell = 'not run'
        rows.append(f'| {epochs} | {seed} | {cell} | '
                    f"{f'{seconds / 60:.0f}' if seconds else '—'} |")
    lines = [
        f'# Schedule plateau: `{osp.basename(args.config)}`', '',
        f'Command: `python benchmarks/schedule_plateau.py --config {args.config} --schedules '
        f'{" ".join(map(str, args.schedules))} --seeds {" ".join(map(str, args.seeds))} '
        f'--val-interval {args.val_interval} --jobs {args.jobs}`  ',
        f'Machine: {machine()}; {time.strftime("%Y-%m-%d")}; this invocation {minutes:.1f} min '
        f'({args.jobs} training slots of {max(1, (os.cpu_count() or 1) // args.jobs)} '
        'thread(s) each).  ',
        f'Provenance: {provenance(args.seeds, commit=commit)}.  ',
        *provenance_of_records(recorded),
        f'Data: the medium embedded data, {NUM_TRAIN} train / {NUM_VAL} val images; AP in '
        'points on the val split, all classes of the config. Each schedule is a run of its '
        'own (lr step at 5/6 of it).', '',
        f'Rule: S is the shortest schedule within {WITHIN_AP:g} AP of the schedule twice as '
        'long (means over seeds). ' + verdict(finals), '',
        '| schedule (epochs) | seed | final AP | train (min) |', '|---|---|---|---|', *rows, '',
        '## Learning curves (AP at each validation)', '',
        '| schedule | seed | epoch: AP |', '|---|---|---|',
        *[f'| {e} | {s} | ' + ', '.join(f'{int(ep)}: {100 * ap:.1f}' for ep, ap, _ in c) + ' |'
          for (e, s), c in curves.items()], '']
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines), flush=True)


def provenance_of_records(recorded: Dict[tuple, Optional[dict]]) -> List[str]:
    """Lines naming the runs whose records come from elsewhere: another report (imported)
    or another commit / machine / date than this invocation's."""
    lines = []
    for (epochs, seed), rec in sorted(recorded.items()):
        if rec and rec.get('imported_from'):
            lines.append(f"Run {epochs} epochs / seed {seed}: imported from "
                         f"`{rec['imported_from']}` ({rec['precision']}).  ")
        elif rec:
            lines.append(f"Run {epochs} epochs / seed {seed}: recorded by mmka {rec['mmka']} "
                         f"on {rec['date']}, {rec['machine']}.  ")
    return lines


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    commit = mmka_commit()  # now: a commit made while this runs did not train its models
    ensure_shapes_dataset(args.data_root, num_train=NUM_TRAIN, num_val=NUM_VAL)
    if args.import_report:
        imported = import_report(args, args.import_report)
        print(f'[plateau] imported {len(imported)} runs from {args.import_report}: {imported}')
    runs = {(e, s): run_cfg(args, e, s) for e in args.schedules for s in args.seeds}
    if not args.report_only:
        # Longest first: it bounds the wall time; the short ones share the other slot(s).
        todo = [(osp.basename(c.work_dir), c) for (e, _), c in
                sorted(runs.items(), key=lambda item: -item[0][0])
                if not osp.isfile(last_checkpoint(c))
                and not records.exists(c.work_dir, 'curve.json', args.records)]
        # `--jobs` slots of cores / jobs threads each, also when fewer runs are left (a
        # run started beside another invocation's should not take both cores).
        run_training_jobs(todo, osp.join(REPO, 'tools/train.py'), args.jobs,
                          log=lambda msg: print(f'[plateau] {msg}', flush=True))
    write_report(args, runs, (time.time() - start) / 60, commit)


if __name__ == '__main__':
    main()
