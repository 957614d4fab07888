"""What the teachers' soft targets carry beyond the labels (paper §III-C, task amalgamation).

    python benchmarks/ta_targets.py [reproduce_table1.py's model options] [--row Student]
        [--split train] [--num-images N] [--iou-thr 0.5] [--score-thr T [T ...]] [--out FILE]

TA trains the student on the teachers' pooled, filtered last-layer predictions (eqs. 9-11)
instead of, or beside, the labels. It can only teach what the labels do not already say: a
target that is a labelled object at its labelled box with its labelled class repeats the
ground truth, and only its softness (a confidence below 1, probability on other classes) and
its errors (missed, duplicated, misplaced or misclassified objects) differ. This script
trains nothing: it builds the amalgamator of one row (``--row``, default ``Student``) that
``benchmarks/reproduce_table1.py`` configures with the same options (``--family``,
``--size``, ``--teacher-epochs``, ``--teacher-init``, ``--partition``; the same trained
teachers), runs its teachers on the first ``--num-images`` training images and builds the
targets with the row's own TA hook, as training does (the embedded training pipeline is
deterministic; ``--split val``: on validation images instead, which the teachers never
trained on, to tell what they learned from what they remember), then matches them
one-to-one (Hungarian, same class, IoU >= ``--iou-thr``) to the images' labels and reports

* targets and labelled objects per image;
* precision (share of targets matched to a label) and recall (share of labels matched);
* for matched targets: IoU with the label, the teacher's confidence (conf of eqs. 10-11:
  the probability of the labelled class, where a label says 1) and the probability mass the
  target puts on the student's other object classes (what a one-hot label cannot carry);
* unmatched targets by kind: a duplicate (same class, IoU >= thr with a label another
  target matched), a wrong class (IoU >= thr with a label of another class only), or
  background (no label at IoU >= thr); and their mean confidence.

``--score-thr`` replaces the row's conf threshold (``targets.score_thr``, eqs. 10-11) and,
given several values, reports one column per threshold from the same teacher outputs: what
a stricter filter would remove (targets that are not labels) and what it would cost
(recall), before a row is trained with it.

The results file (default ``benchmarks/results/ta_targets[_val]_<table1 suffix>.md``) states the
command, commit, machine, date and the teachers' precision.
"""
import argparse
import copy
import datetime
import os.path as osp
import shlex
import sys
from typing import Dict, Optional, Sequence

import torch
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import reproduce_table1 as table1  # noqa: E402  (the teachers and rows it trains)
from mmengine.dataset import pseudo_collate  # noqa: E402

from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmdet.structures.bbox import (bbox_cxcywh_to_xyxy, bbox_overlaps,  # noqa: E402
                                   bbox_xyxy_to_cxcywh)
from mmdet.utils import register_all_modules  # noqa: E402
from mmka.models.amalgamation_hooks.task_amalgamation import TaskAmalgamation  # noqa: E402
from mmka.models.amalgamators.base_distiller import run_detector  # noqa: E402
from mmka.utils import machine, mmka_commit, teacher_precision  # noqa: E402
from table1_rows import trained_teacher_jobs  # noqa: E402

REPO = table1.REPO
#: Per-image counts and sums that :func:`compare_with_labels` returns and :func:`summary`
#: turns into rates and means.
COUNTS = ('images', 'targets', 'labels', 'matched', 'iou', 'conf_matched', 'other_mass',
          'duplicate', 'wrong_class', 'background', 'conf_unmatched')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Other options are reproduce_table1.py\'s and select its teachers.')
    parser.add_argument('--row', default='Student',
                        help='the row whose TA hook builds the targets (default Student)')
    parser.add_argument('--split', choices=('train', 'val'), default='train',
                        help="the images: training's (what TA trains on; default) or the "
                        'validation ones (unseen by the teachers)')
    parser.add_argument('--num-images', type=int, default=500,
                        help='images to compare (default 500)')
    parser.add_argument('--iou-thr', type=float, default=0.5,
                        help='IoU for a target to match a label (default 0.5)')
    parser.add_argument('--score-thr', type=float, nargs='+', default=None,
                        help="conf thresholds to build the targets at, one column each "
                        "(default: the row's own targets.score_thr)")
    parser.add_argument('--out', default=None, help='markdown results file')
    own, rest = parser.parse_known_args(argv)
    if own.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {own.num_images}')
    if not 0 < own.iou_thr <= 1:
        parser.error(f'--iou-thr must be in (0, 1], got {own.iou_thr}')
    for thr in own.score_thr or ():
        if not 0 <= thr < 1:  # SoftTargetBuilder's own range
            parser.error(f'--score-thr must be in [0, 1), got {thr}')
    args = table1.parse_args(rest)
    rows = table1.FAMILIES[args.family]['students']
    if own.row not in rows:
        parser.error(f'--row {own.row!r} is not a row of {args.family}: {list(rows)}')
    suffix = osp.basename(args.out)[len('table1_'):]  # its default Table I file's suffix
    split = '' if own.split == 'train' else f'_{own.split}'
    args.out = own.out or osp.join(REPO, 'benchmarks/results',
                                   f'ta_targets{split}_{suffix}')
    args.row, args.num_images, args.iou_thr = own.row, own.num_images, own.iou_thr
    args.split, args.score_thr = own.split, own.score_thr
    return args


def compare_with_labels(targets, gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                        iou_thr: float) -> Dict[str, float]:
    """One image's soft targets against its labels.

    Args:
        targets (InstanceData): :class:`~mmka.models.task_modules.SoftTargetBuilder`'s
            output for the image: ``bboxes`` (k, 4) normalised (cx, cy, w, h), ``labels``
            (k,), ``scores`` (k,) and ``probs`` (k, |C|+1) with background last (softmax
            heads) or (k, |C|) (sigmoid heads), student label space.
        gt_boxes (Tensor): (n, 4) labelled boxes, normalised (cx, cy, w, h), as the DETR
            loss compares them.
        gt_labels (Tensor): (n,) labelled classes.
        iou_thr (float): the IoU at or above which a target may match a label.

    Returns:
        dict: the :data:`COUNTS` of this image (``images`` = 1); ``iou``, ``conf_*`` and
        ``other_mass`` are sums over the targets they describe.
    """
    k, n = len(targets), len(gt_labels)
    probs = targets.probs.float()
    num_classes = probs.shape[1] - (1 if targets.metainfo['head'] == 'softmax' else 0)
    ious = bbox_overlaps(bbox_cxcywh_to_xyxy(targets.bboxes.float()),
                         bbox_cxcywh_to_xyxy(gt_boxes.float())) if k and n \
        else probs.new_zeros((k, n))
    same = targets.labels[:, None] == gt_labels[None, :]
    allowed = same & (ious >= iou_thr)
    # Largest total IoU among same-class pairs at or above the threshold; other pairs can
    # never be chosen (their cost exceeds any sum of allowed ones).
    cost = torch.where(allowed, -ious, torch.full_like(ious, float(k + n + 1)))
    rows, cols = linear_sum_assignment(cost.numpy()) if k and n else ([], [])
    pairs = [(r, c) for r, c in zip(rows, cols) if allowed[r, c]]
    matched_t = torch.zeros(k, dtype=torch.bool)
    matched_g = torch.zeros(n, dtype=torch.bool)
    counts = dict.fromkeys(COUNTS, 0.0)
    counts.update(images=1.0, targets=float(k), labels=float(n), matched=float(len(pairs)))
    for r, c in pairs:
        matched_t[r], matched_g[c] = True, True
        label = int(gt_labels[c])
        counts['iou'] += float(ious[r, c])
        counts['conf_matched'] += float(targets.scores[r])
        counts['other_mass'] += float(probs[r, :num_classes].sum() - probs[r, label])
    for r in torch.nonzero(~matched_t).flatten().tolist():
        near = ious[r] >= iou_thr
        if bool((near & same[r] & matched_g).any()):
            counts['duplicate'] += 1
        elif bool(near.any()):
            counts['wrong_class'] += 1
        else:
            counts['background'] += 1
        counts['conf_unmatched'] += float(targets.scores[r])
    return counts


def summary(counts: Dict[str, float]) -> Dict[str, Optional[float]]:
    """Rates and means of summed :data:`COUNTS` (None where nothing was counted)."""
    ratio = lambda a, b: counts[a] / counts[b] if counts[b] else None  # noqa: E731
    unmatched = counts['targets'] - counts['matched']
    per_unmatched = lambda a: counts[a] / unmatched if unmatched else None  # noqa: E731
    return dict(targets_per_image=ratio('targets', 'images'),
                labels_per_image=ratio('labels', 'images'),
                precision=ratio('matched', 'targets'), recall=ratio('matched', 'labels'),
                iou=ratio('iou', 'matched'), conf_matched=ratio('conf_matched', 'matched'),
                other_mass=ratio('other_mass', 'matched'),
                duplicate=ratio('duplicate', 'targets'),
                wrong_class=ratio('wrong_class', 'targets'),
                background=ratio('background', 'targets'),
                conf_unmatched=per_unmatched('conf_unmatched'))


def normalised_labels(sample) -> torch.Tensor:
    """A sample's labelled boxes as normalised (cx, cy, w, h), the frame in which mmdet's
    DETR heads compare them with predictions (divided by the image shape)."""
    h, w = sample.metainfo['img_shape']
    boxes = sample.gt_instances.bboxes
    boxes = boxes.tensor if hasattr(boxes, 'tensor') else boxes
    return bbox_xyxy_to_cxcywh(boxes.float()) / boxes.new_tensor([w, h, w, h]).float()


def ta_hook_cfg(cfg, row: str) -> dict:
    """The TaskAmalgamation hook config of ``row``'s amalgamator.

    Raises:
        ValueError: naming the row, if it has no TA hook (no soft targets to compare).
    """
    hooks = [h for h in cfg.model.get('hooks', ()) if h['type'] == 'TaskAmalgamation']
    if not hooks:
        raise ValueError(f'Row {row!r} has no TaskAmalgamation hook, so no soft targets; '
                         'pass a --row with TA, e.g. Student or "TA only".')
    return hooks[0]


@torch.no_grad()
def measure(cfg, num_images: int, iou_thr: float, split: str = 'train',
            score_thrs: Sequence[float] = (), batch_size: int = 16) -> Dict[float, Dict[str, float]]:
    """Summed :data:`COUNTS` over the first ``num_images`` images of ``cfg``'s ``split``
    (``'train'`` or ``'val'``) dataset, per conf threshold of the targets.

    Args:
        score_thrs: the thresholds to build the targets at (the teachers run once); empty:
            the row's own ``targets.score_thr``.

    Returns:
        dict: threshold -> summed counts.
    """
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('teacher_cache', None)  # the teachers run: the cache is training's
    amalgamator = MODELS.build(model_cfg).eval()
    # main() checked the config with ta_hook_cfg, so the built hook exists.
    hook = next(h for h in amalgamator.hooks if isinstance(h, TaskAmalgamation))
    builder = hook.builder
    score_thrs = list(score_thrs) or [builder.score_thr]
    dataset = DATASETS.build(copy.deepcopy(cfg[f'{split}_dataloader'].dataset))
    totals = {thr: dict.fromkeys(COUNTS, 0.0) for thr in score_thrs}
    for start in range(0, min(num_images, len(dataset)), batch_size):
        stop = min(start + batch_size, num_images, len(dataset))
        data = amalgamator.data_preprocessor(
            pseudo_collate([dataset[i] for i in range(start, stop)]), False)
        amalgamator.run_teachers(data['inputs'], data['data_samples'], run_detector)
        outs = [rec['bbox_head'] for rec in hook.teacher_recorders]
        logits, boxes = [cls[-1] for cls, _ in outs], [box[-1] for _, box in outs]
        hook.clear()
        for thr in score_thrs:
            # The threshold is only read when the builder selects, so one set of teacher
            # outputs serves every column.
            builder.score_thr = thr
            for image_targets, sample in zip(builder(logits, boxes), data['data_samples']):
                counts = compare_with_labels(image_targets.cpu(), normalised_labels(sample),
                                             sample.gt_instances.labels.cpu(), iou_thr)
                for key in COUNTS:
                    totals[thr][key] += counts[key]
    return totals


def main(argv=None) -> Dict[float, Dict[str, Optional[float]]]:
    args = parse_args(argv)
    register_all_modules()
    commit = mmka_commit()
    teachers = trained_teacher_jobs(args)
    cfg = table1.student_job(args.row, args, teachers, args.seeds[0])
    ta_hook_cfg(cfg, args.row)
    totals = measure(cfg, args.num_images, args.iou_thr, args.split, args.score_thr or ())
    results = {thr: summary(counts) for thr, counts in totals.items()}
    print(f'[ta_targets] {results}', flush=True)
    write_report(args, cfg, results, commit, argv)
    return results


#: The report's rows: (label, summary key, format: 'num' or 'pct').
REPORT_ROWS = (
    ('targets per image', 'targets_per_image', 'num'),
    ('labelled objects per image', 'labels_per_image', 'num'),
    ('precision: targets matched to a label', 'precision', 'pct'),
    ('recall: labels matched by a target', 'recall', 'pct'),
    ('matched targets: mean IoU with the label', 'iou', 'num'),
    ('matched targets: mean confidence (a label says 1)', 'conf_matched', 'num'),
    ('matched targets: mean probability on the other classes (a label says 0)',
     'other_mass', 'num'),
    ('unmatched targets, duplicate of a matched label', 'duplicate', 'pct'),
    ('unmatched targets, on a label of another class', 'wrong_class', 'pct'),
    ('unmatched targets, background', 'background', 'pct'),
    ('unmatched targets: mean confidence', 'conf_unmatched', 'num'))


def write_report(args, cfg, results: Dict[float, Dict[str, Optional[float]]], commit: str,
                 argv=None) -> None:
    pct = lambda v: '—' if v is None else f'{100 * v:.1f} %'  # noqa: E731
    num = lambda v: '—' if v is None else f'{v:.2f}'  # noqa: E731
    hook = ta_hook_cfg(cfg, args.row)
    command = 'python benchmarks/ta_targets.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    teachers = ', '.join(f'`{osp.basename(t.work_dir)}`' for t in table1.teacher_jobs(args))
    lines = [
        "# What the teachers' soft targets carry beyond the labels (paper §III-C)", '',
        f'`{command}`', '',
        f'mmka {commit}; {machine()}; {datetime.date.today().isoformat()}; {args.family}, '
        f'partition {args.partition}, size {args.size}, teachers {args.teacher_epochs} '
        f'epochs ({args.teacher_init}): {teachers}; teachers run in '
        f'{teacher_precision(cfg) or "—"}; the TA targets of row `{args.row}` '
        f"(targets={dict(hook.get('targets') or {})}); the first {args.num_images} "
        f"{'training' if args.split == 'train' else 'validation'} images; a target "
        f'matches a label of its class at IoU >= {args.iou_thr} '
        '(one-to-one, Hungarian on IoU).', '',
        '| measure | ' + ' | '.join(f'conf > {thr:g}' for thr in results) + ' |',
        '|---|' + '---|' * len(results)]
    for label, key, kind in REPORT_ROWS:
        show = pct if kind == 'pct' else num
        lines.append(f'| {label} | ' + ' | '.join(show(r[key]) for r in results.values()) + ' |')
    lines += ['', 'Shares of unmatched targets are of all targets; with precision they sum to '
              '100 %. A column per conf threshold of the targets (`targets.score_thr`), '
              'built from the same teacher outputs.']
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[ta_targets] wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
