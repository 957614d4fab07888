"""Detections of the teachers and the amalgamated student on the same images (paper Fig. 5).

    python tools/analysis/compare_detections.py CONFIG CHECKPOINT [--out detections.png]
        [--data-root data/shapes] [--num-images 4] [--start 0] [--score-thr 0.3]
        [--device cpu]

CONFIG is an amalgamation config (``model.teachers``: ``dict(config, checkpoint, classes)``
each, ``model.student``), CHECKPOINT the amalgamation (or extracted student) checkpoint. One
row per test image, columns Teacher_1..N and Student; each box is labelled with its class
name (teachers' labels are named by the teacher's own classes) and score. Teacher t's boxes
have colour t; the student's boxes take the colour of the teacher that owns the class.
"""
import argparse
import os.path as osp
import sys
from typing import List, Sequence

import matplotlib

matplotlib.use('Agg')  # files only: no display on servers
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmka  # noqa: E402,F401  (registers mmka modules)
from mmka.utils.analysis import (build_detector, build_teachers,  # noqa: E402
                                 dataset_classes, detector_cfg, image_rgb, load_config,
                                 load_items, predict, to_input_coords)

PALETTE = plt.get_cmap('tab10').colors
OTHER = (0.6, 0.6, 0.6)  # student classes no teacher owns


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='amalgamation config (model.teachers, model.student)')
    parser.add_argument('checkpoint', help='amalgamation or extracted student checkpoint')
    parser.add_argument('--out', default='detections.png', help='output PNG')
    parser.add_argument('--data-root', help='override the config\'s data root')
    parser.add_argument('--num-images', type=int, default=4, help='rows (from --start)')
    parser.add_argument('--start', type=int, default=0, help='first test image index')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw detections scoring above this')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if args.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {args.num_images}')
    return args


def draw(ax, image, sample, names: Sequence[str], colours: Sequence, score_thr: float) -> int:
    """``sample.pred_instances`` above ``score_thr`` on ``image``; returns how many."""
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    pred = sample.pred_instances
    keep = pred.scores > score_thr
    boxes = to_input_coords(pred.bboxes[keep], sample).tolist()
    for (x1, y1, x2, y2), label, score in zip(boxes, pred.labels[keep].tolist(),
                                              pred.scores[keep].tolist()):
        colour = colours[label]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.2, ec=colour))
        ax.text(x1, y1, f'{names[label]} {score:.2f}', fontsize=6, va='bottom', color='w',
                bbox=dict(fc=colour, ec='none', pad=0.5, alpha=0.8))
    return len(boxes)


def student_colours(classes: Sequence[str], teacher_classes: List[tuple]) -> list:
    """Each student class gets the colour of the teacher that owns it (by name)."""
    owner = {name: t for t, names in enumerate(teacher_classes) for name in names}
    return [PALETTE[owner[c] % len(PALETTE)] if c in owner else OTHER for c in classes]


def main(argv=None) -> List[List[int]]:
    """Returns the number of boxes drawn per row and column."""
    args = parse_args(argv)
    cfg = load_config(args.config, args.data_root)
    teachers = build_teachers(cfg, args.device)  # also checks the config is an amalgamation
    student = build_detector(detector_cfg(cfg), args.checkpoint, args.device)
    classes = dataset_classes(cfg)
    if classes is None:
        raise ValueError(f'{args.config!r} names no student classes: set model.classes or '
                         'test_dataloader.dataset.metainfo.classes.')
    items = load_items(cfg, args.num_images, args.start)
    columns = [(model, names, [PALETTE[t % len(PALETTE)]] * len(names), f'Teacher_{t + 1}')
               for t, (model, names) in enumerate(teachers)]
    columns.append((student, classes, student_colours(classes, [c for _, c in teachers]),
                    'Student'))
    results = [predict(model, items) for model, *_ in columns]
    rows, cols = len(items), len(columns)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False,
                             layout='constrained')
    counts = []
    for r, item in enumerate(items):
        image = image_rgb(item)
        counts.append([draw(axes[r, c], image, results[c][r], names, colours, args.score_thr)
                       for c, (_, names, colours, _) in enumerate(columns)])
        name = item['data_samples'].metainfo.get('img_path', f'image {args.start + r}')
        axes[r, 0].set_ylabel(osp.basename(name), fontsize=7)
    for c, (*_, title) in enumerate(columns):
        axes[0, c].set_title(title, fontsize=9)
    fig.suptitle(f'detections with score > {args.score_thr}', fontsize=9)
    fig.savefig(args.out, dpi=120)
    plt.close(fig)
    print(f'boxes per image (Teacher_1..{len(teachers)}, Student): {counts}\nsaved {args.out}')
    return counts


if __name__ == '__main__':
    main()
