"""How often training and evaluation keep the same tokens in a slim student (paper §III-B3).

    python tools/analysis/compression_agreement.py CONFIG CHECKPOINT [--out agreement.png]
        [--data-root data/shapes] [--num-images 100] [--batch-size 8] [--device cpu]

CONFIG is an amalgamation config with teachers and a slim student, single-scale (e.g.
configs/ka/shapes_2t-slim.py) or multi-scale (configs/ka/shapes_2t_dino-slim.py: Alg. 1 on
each level), CHECKPOINT the amalgamation's (or the extracted student's) checkpoint. The
paper chooses P_slim by Algorithm 1 on the teachers' concatenated projections X_T in
training and on the student's own X_S at evaluation. For every test image this tool runs
both rules on the same image and reports the share of valid positions where they keep the
same segment: 1 means the student is evaluated on the tokens it was trained on, 1/N is
chance. The teachers run in the config's ``model.teacher_dtype`` (float32 if unset), the
precision training ran them in. The PNG is the histogram of the per-image agreement; the
printed line gives its mean and the chance level.
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
from mmka.utils.analysis import (build_ka_student, build_teachers,  # noqa: E402
                                 compression_agreement, load_config, load_items, preprocess)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='amalgamation config with teachers')
    parser.add_argument('checkpoint', help='amalgamation or student checkpoint')
    parser.add_argument('--out', default='compression_agreement.png', help='output PNG')
    parser.add_argument('--data-root', help='override the config\'s data root')
    parser.add_argument('--num-images', type=int, default=100, help='test images to use')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    for name in ('num_images', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    return args


def plot(agreement: np.ndarray, num_segments: int, out: str, title: str) -> str:
    """Histogram of per-image agreement with the chance line; returns a summary line."""
    chance = 1.0 / num_segments
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout='constrained')
    ax.hist(agreement, bins=np.linspace(0, 1, 41), color='tab:blue')
    ax.axvline(chance, color='k', ls='--', lw=0.8, label=f'chance (1/N = {chance:.2f})')
    summary = (f'{agreement.size} images: same segment kept at {agreement.mean():.1%} of '
               f'positions (median image {np.median(agreement):.1%}; chance {chance:.1%})')
    ax.set(xlabel='share of positions where P_slim(X_T) = P_slim(X_S)', ylabel='images',
           xlim=(0, 1))
    ax.set_title(f'{title}\n{summary}', fontsize=9)
    ax.legend(loc='upper left', fontsize=8)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return summary


def main(argv=None) -> Dict[str, np.ndarray]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.data_root)
    student = build_ka_student(cfg, args.checkpoint, args.device, 'compression_agreement')
    if not student.compressor.enabled:
        raise ValueError(f'{type(student).__name__} in {args.config!r} is not compressed '
                         '(compression strategy none): there is no P_slim to compare; pass a '
                         'slim config, e.g. configs/ka/shapes_2t-slim.py.')
    teachers = [model for model, _ in build_teachers(cfg, args.device)]
    if len(teachers) != student.num_teachers:
        raise ValueError(f'The config has {len(teachers)} teachers but the student has '
                         f'{student.num_teachers} segments (num_teachers); they must match.')
    items = load_items(cfg, args.num_images)
    agreement = np.concatenate([
        compression_agreement(student, teachers,
                              preprocess(student, items[i:i + args.batch_size]),
                              cfg.model.get('teacher_dtype'))
        for i in range(0, len(items), args.batch_size)])
    title = (f'{type(student).__name__}, N={student.num_teachers}\nAlg. 1 on the teachers\' '
             'X_T (training) vs on the student\'s X_S (evaluation)')
    summary = plot(agreement, student.num_teachers, args.out, title)
    print(f'{summary}\nsaved {args.out}')
    return dict(agreement=agreement)


if __name__ == '__main__':
    main()
