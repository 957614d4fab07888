"""Token-redundancy histogram of a KA student's extended sequence (paper Fig. 6a).

    python tools/analysis/token_redundancy.py CONFIG CHECKPOINT [--out redundancy.png]
        [--data-root data/shapes] [--num-images 100] [--batch-size 8] [--bins 50]
        [--split kept|segment|level|none] [--device cpu]

CONFIG is a KA student config (``KAConditionalDETRStudent`` etc., e.g. a Raw_ext baseline or
an extracted student) or an amalgamation config (its ``model.student`` is used); CHECKPOINT
is the student's or the amalgamation's. For every image, the student's input projections
give X_S = X_s^1 ⊕ ... ⊕ X_s^N (what the paper plots), and the redundancy of each valid
token in its own image's X_S is R(x_i | X_S) (eq. 8, ``mmka``'s ``token_redundancy``).
``--split kept`` colours the tokens the student keeps (its compression strategy at
evaluation, or Algorithm 1 for an uncompressed student) apart from those it drops.
Multi-scale students (``KADINOStudent``, ``KADeformableDETRStudent``) run Alg. 1 on each
feature level, so each level's tokens of all segments are one sequence X_S^l here too;
``--split level`` colours the levels.
"""
import argparse
import os.path as osp
import sys
from typing import Dict

import matplotlib

matplotlib.use('Agg')  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmka  # noqa: E402,F401  (registers mmka modules)
from mmka.utils.analysis import (build_ka_student, extended_redundancy,  # noqa: E402
                                 load_config, load_items, preprocess)

SPLITS = ('kept', 'segment', 'level', 'none')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='KA student or amalgamation config')
    parser.add_argument('checkpoint', help='student or amalgamation checkpoint')
    parser.add_argument('--out', default='token_redundancy.png', help='output PNG')
    parser.add_argument('--data-root', help='override the config\'s data root')
    parser.add_argument('--num-images', type=int, default=100,
                        help='test images to pool (from --start)')
    parser.add_argument('--start', type=int, default=0, help='first test image index')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--bins', type=int, default=50)
    parser.add_argument('--split', choices=SPLITS, default='kept',
                        help='colour kept vs dropped tokens, or segments, or feature levels '
                        '(multi-scale students), or nothing')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    for name in ('num_images', 'batch_size', 'bins'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def collect(student, items, batch_size: int) -> Dict[str, np.ndarray]:
    """:func:`extended_redundancy` over ``items`` in batches, concatenated."""
    parts = [extended_redundancy(student, preprocess(student, items[i:i + batch_size]))
             for i in range(0, len(items), batch_size)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def plot(values: Dict[str, np.ndarray], out: str, split: str, bins: int, title: str) -> str:
    """Histogram of ``values['redundancy']``, stacked by ``split``; returns a summary line."""
    r = values['redundancy']
    edges = np.linspace(min(r.min(), 0.0), 1.0, bins + 1)
    if split == 'kept':
        groups = [(r[values['kept']], 'kept'), (r[~values['kept']], 'dropped')]
    elif split == 'segment':
        groups = [(r[values['segment'] == t], f'segment {t + 1} (X_s^{t + 1})')
                  for t in range(int(values['segment'].max()) + 1)]
    elif split == 'level':
        groups = [(r[values['level'] == lvl], f'level {lvl}')
                  for lvl in range(int(values['level'].max()) + 1)]
    else:
        groups = [(r, 'all tokens')]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout='constrained')
    ax.hist([g for g, _ in groups], bins=edges, stacked=True, label=[n for _, n in groups])
    ax.axvline(0.5, color='k', ls='--', lw=0.8)
    above = float((r > 0.5).mean())
    summary = (f'{r.size} tokens, mean R {r.mean():.3f}, median {np.median(r):.3f}, '
               f'R > 0.5: {above:.1%}')
    ax.set(xlabel='redundancy R(x_i | X_S) (eq. 8; per level for multi-scale students)',
           ylabel='tokens')
    ax.set_title(f'{title}\n{summary}', fontsize=9)
    if len(groups) > 1:
        ax.legend(loc='upper left', fontsize=8)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return summary


def main(argv=None) -> Dict[str, np.ndarray]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.data_root)
    student = build_ka_student(cfg, args.checkpoint, args.device, 'token_redundancy')
    items = load_items(cfg, args.num_images, args.start)
    values = collect(student, items, args.batch_size)
    strategy = student.compressor.strategy
    kept_by = 'Alg. 1' if strategy in ('none', 'redundancy') else strategy
    title = (f'{type(student).__name__}, N={student.num_teachers}, {len(items)} images '
             f'(kept: {kept_by})')
    summary = plot(values, args.out, args.split, args.bins, title)
    print(f'{summary}\nsaved {args.out}')
    return values


if __name__ == '__main__':
    main()
