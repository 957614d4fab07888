"""Committed records of benchmark runs: what a trained model measured, kept in the repository.

A benchmark's work dirs (checkpoints, logs, the cached evaluations) stay on the machine
that trained them; a new machine starts without them. A record is the small JSON that a
benchmark caches in a model's work dir (``reproduce_table1``: the evaluation
``result-<partitions key>.json``; ``schedule_plateau``: ``curve.json``), mirrored to

    <records root>/<work dir name>/<file name>

(default root :data:`RECORDS`, committed). The work dir's name is the model's row name and
the hash of its config (``table1_rows.keyed``, independent of where the repository is
checked out), so a record belongs to one config, and a report can be written again anywhere,
with rows trained in earlier sessions, from the records alone.

A record stands for a config, not for a set of weights: a model trained again on another
machine from the same config (a student's teachers, say) is the same recipe, not bit for
bit the same network. So that a report can tell which teacher weights a record was measured
with, a record of a model with teachers names them (``teachers``: each teacher's work dir
name and :func:`weights_fingerprint` of its checkpoint).

    python benchmarks/records.py [PREFIX ...] [--root DIR]

lists the records (of the models whose folder starts with a PREFIX) as a markdown table.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
from typing import Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RECORDS = osp.join(REPO, 'benchmarks', 'results', 'records')


def weights_fingerprint(checkpoint: str) -> str:
    """A short hash of the weights (``state_dict``) in ``checkpoint``: equal for the same
    network, whatever else the file holds (optimizer state, the time it was saved)."""
    import torch  # here, not above: listing the records needs no torch

    # Own checkpoints, written by mmengine: its message hub objects need full unpickling.
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state = state.get('state_dict', state)
    digest = hashlib.sha1()
    for name in sorted(state):
        digest.update(name.encode())
        # As bytes, so that every dtype (bf16 too) hashes exactly.
        digest.update(state[name].detach().cpu().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:10]


def record_path(work_dir: str, filename: str, root: str = RECORDS) -> str:
    """Where the record ``filename`` of the model in ``work_dir`` is committed."""
    return osp.join(root, osp.basename(osp.normpath(work_dir)), filename)


def load(work_dir: str, filename: str, root: Optional[str] = RECORDS) -> Optional[dict]:
    """``<work_dir>/<filename>``, else its committed record (copied back into ``work_dir``
    when that exists, so that both places agree), else None. ``root=None``: no records."""
    for path in (osp.join(work_dir, filename),
                 record_path(work_dir, filename, root) if root else None):
        if path and osp.isfile(path):
            with open(path) as f:
                data = json.load(f)
            if path != osp.join(work_dir, filename) and osp.isdir(work_dir):
                _write(osp.join(work_dir, filename), data)
            return data
    return None


def save(work_dir: str, filename: str, data: dict, root: Optional[str] = RECORDS) -> None:
    """Write ``data`` to ``<work_dir>/<filename>`` and to its record (``root=None``: only
    the former)."""
    _write(osp.join(work_dir, filename), data)
    if root:
        _write(record_path(work_dir, filename, root), data)


def exists(work_dir: str, filename: str, root: Optional[str] = RECORDS) -> bool:
    """Whether ``load`` finds something."""
    return osp.isfile(osp.join(work_dir, filename)) or bool(
        root and osp.isfile(record_path(work_dir, filename, root)))


def summary(root: str = RECORDS, prefixes=()) -> str:
    """A markdown table of the records under ``root``: model folder, file, AP at the end (the
    evaluation's, else the curve's last point), the evaluation's AP on each partition's
    classes (``T1 78.9, T2 76.3``; a teacher's AP on its own classes is one of them), the
    curve's epochs, train minutes, and the commit, machine and date that measured it (or
    the file it was imported from)."""
    lines = ['| model | record | AP | AP per partition | epochs | train (min) | measured by |',
             '|---|---|---|---|---|---|---|']
    for model in sorted(os.listdir(root)) if osp.isdir(root) else []:
        if prefixes and not model.startswith(tuple(prefixes)):
            continue
        for filename in sorted(os.listdir(osp.join(root, model))):
            with open(osp.join(root, model, filename)) as f:
                rec = json.load(f)
            curve = rec.get('curve') or []
            metrics = rec.get('metrics', {})
            ap = metrics.get('coco/bbox_mAP', curve[-1][1] if curve else None)
            parts = ', '.join(f"{key[5:-9]} {100 * value:.1f}" for key, value in metrics.items()
                              if key.startswith('coco/T') and key.endswith('_bbox_mAP'))
            seconds = rec.get('train_seconds')
            if rec.get('imported_from'):
                by = f"imported from {rec['imported_from']}"
            else:
                by = f"mmka {rec.get('mmka', '?')}, {rec.get('machine', '?')}, " \
                     f"{rec.get('date', '?')}"
            lines.append(f"| {model} | {filename} | {'—' if ap is None else f'{100 * ap:.1f}'} | "
                         f"{parts or '—'} | {curve[-1][0] if curve else '—'} | "
                         f"{'—' if seconds is None else f'{seconds / 60:.0f}'} | {by} |")
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description='List the committed records.')
    parser.add_argument('prefixes', nargs='*', help='model folders starting with these')
    parser.add_argument('--root', default=RECORDS)
    args = parser.parse_args(argv)
    print(summary(args.root, args.prefixes))


def _write(path: str, data: dict) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
