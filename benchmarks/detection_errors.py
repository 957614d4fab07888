"""Where a trained row's AP goes: its detections against the labels, by kind of error.

    python benchmarks/detection_errors.py [reproduce_table1.py's model options]
        [--only ROW ...] [--seeds 0 1] [--num-images N] [--nms-iou 0.5] [--out FILE]

Why: DINO's label-free rows stay 3-4 AP below the Student, while a label-free Student that
takes the teachers' targets as the labels of its own loss does not (README, Table I). The
targets then carry what the labels carry, and the gap lies in how the TA loss trains the
detector. COCO AP can be lost in four ways, which this script tells apart: objects never
detected, loose boxes, true detections scored low, and false positives ranked above true
ones. It trains nothing: it reads the rows that ``benchmarks/reproduce_table1.py`` trained
with the same options (``--family``, ``--size``, ``--teacher-epochs``, ``--student-epochs``,
``--teacher-init``, ``--partition``, ``--seeds``, ``--work-dir``) and, for every trained
(row, seed), over the first ``--num-images`` validation images, takes the detector's own
predictions (its ``test_cfg``: for DINO the ``max_per_img`` best (query, class) pairs) and
gives

* recall: the share of labels that a detection of their class covers at IoU >= 0.5, at any
  score (AP50's ceiling);
* for the true positives (each detection, highest score first, takes the unmatched label of
  its class it overlaps most, at IoU >= 0.5, as COCO matches at AP50): the share of labels
  whose true positive reaches IoU >= 0.75, their mean IoU with their label, and their
  median and 10th-percentile score;
* per 100 labels, the false positives that outrank 90 % of the true positives (score above
  that 10th percentile), by kind (:data:`KINDS`): a duplicate of a detected object, a loose
  box, the wrong class on an object, background;
* AP as the row's val evaluator computes it, and AP after class-wise NMS at ``--nms-iou``
  (duplicates removed; DETRs use no NMS): the AP that duplicates cost.

Rows: by default every row of the family; those not trained are skipped. The results file
(default ``benchmarks/results/detection_errors_<table1 suffix>.md``) states the command,
commit, machine and date.
"""
import argparse
import copy
import datetime
import os.path as osp
import shlex
import sys
from typing import Dict, List, Sequence

import torch
from mmcv.ops import batched_nms
from mmengine.evaluator import Evaluator

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import reproduce_table1 as table1  # noqa: E402  (the models and work dirs it trained)
from mmdet.registry import DATASETS  # noqa: E402
from mmdet.structures.bbox import bbox_overlaps  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmka.utils import machine, mmka_commit  # noqa: E402
from mmka.utils.analysis import build_detector, detector_cfg, load_items, predict  # noqa: E402
from table1_rows import trained_student_jobs, trained_teacher_jobs  # noqa: E402

REPO = table1.REPO
#: IoU at which a detection is on a label (COCO's AP50 threshold).
IOU_THR = 0.5
#: Below IOU_THR but at least this much with a label of its class: a loose box, not background.
LOOSE_IOU = 0.1
#: The kinds of false positive, in the order :func:`classify` tests them.
KINDS = ('duplicate', 'loose', 'wrong class', 'background')


def classify(bboxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
             gt_bboxes: torch.Tensor, gt_labels: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Match one image's detections to its labels and name each detection's kind.

    Args:
        bboxes (Tensor): (k, 4) detections, (x1, y1, x2, y2), in the labels' frame.
        scores (Tensor): (k,) their scores.
        labels (Tensor): (k,) their classes.
        gt_bboxes (Tensor): (n, 4) labelled boxes, (x1, y1, x2, y2).
        gt_labels (Tensor): (n,) their classes.

    Returns:
        dict: ``kind`` (k,) long: -1 for a true positive, else the index in :data:`KINDS`
        (tested in that order: a duplicate overlaps a label of its class at IoU >= 0.5 that
        a higher-scoring detection already took; a loose box overlaps one at IoU >= 0.1; the
        wrong class overlaps a label of another class at IoU >= 0.5; else background);
        ``iou`` (k,) a true positive's IoU with its label (0 otherwise); ``covered`` (n,)
        bool: some detection of the label's class reaches it at IoU >= 0.5, at any score.
    """
    k, n = len(bboxes), len(gt_bboxes)
    ious = bbox_overlaps(bboxes.float(), gt_bboxes.float()) if k and n \
        else bboxes.new_zeros((k, n), dtype=torch.float32)
    same = labels.view(-1, 1) == gt_labels.view(1, -1)  # (k, n)
    same_iou = torch.where(same, ious, torch.zeros_like(ious))
    kind = torch.full((k,), KINDS.index('background'), dtype=torch.long)
    tp_iou = torch.zeros(k)
    taken = torch.zeros(n, dtype=torch.bool)
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        free = torch.where(taken, torch.zeros_like(same_iou[i]), same_iou[i])
        if n and free.max() >= IOU_THR:
            j = int(free.argmax())
            taken[j] = True
            kind[i], tp_iou[i] = -1, free[j]
        elif n and same_iou[i].max() >= IOU_THR:
            kind[i] = KINDS.index('duplicate')
        elif n and same_iou[i].max() >= LOOSE_IOU:
            kind[i] = KINDS.index('loose')
        elif n and torch.where(same[i], torch.zeros_like(ious[i]), ious[i]).max() >= IOU_THR:
            kind[i] = KINDS.index('wrong class')
    covered = (same_iou >= IOU_THR).any(0) if k else torch.zeros(n, dtype=torch.bool)
    return dict(kind=kind, iou=tp_iou, covered=covered)


def summarise(kinds: torch.Tensor, ious: torch.Tensor, scores: torch.Tensor,
              num_labels: int, num_covered: int) -> Dict[str, float]:
    """The report's measures from every image's :func:`classify` output, concatenated.

    Returns:
        dict: ``recall``, ``tight`` (the share of labels with a true positive at IoU >=
        0.75), ``tp_iou`` (mean), ``tp_score`` (median), ``tp_score_p10`` (10th
        percentile) and, per 100 labels, the false positives of each of :data:`KINDS`
        scoring above ``tp_score_p10`` (None where there is nothing to measure).
    """
    if not num_labels or not (kinds == -1).any():
        return dict(recall=num_covered / num_labels if num_labels else None, tight=None,
                    tp_iou=None, tp_score=None, tp_score_p10=None,
                    **dict.fromkeys(KINDS))
    tp = kinds == -1
    result = dict(recall=num_covered / num_labels,
                  tight=float((ious[tp] >= 0.75).sum()) / num_labels,
                  tp_iou=float(ious[tp].mean()),
                  tp_score=float(scores[tp].median()),
                  tp_score_p10=float(scores[tp].quantile(0.1)))
    for index, name in enumerate(KINDS):
        above = (kinds == index) & (scores > result['tp_score_p10'])
        result[name] = 100 * float(above.sum()) / num_labels
    return result


def nms(samples: Sequence, iou_thr: float) -> List:
    """Copies of ``samples`` with class-wise NMS at ``iou_thr`` applied to their
    ``pred_instances`` (mmcv's ``batched_nms``)."""
    out = []
    for sample in samples:
        sample = copy.deepcopy(sample)
        pred = sample.pred_instances
        if len(pred):
            _, keep = batched_nms(pred.bboxes, pred.scores, pred.labels,
                                  dict(type='nms', iou_threshold=iou_thr))
            sample.pred_instances = pred[keep]
        out.append(sample)
    return out


def evaluate(cfg, samples: Sequence, dataset_meta: dict) -> float:
    """The all-class COCO AP of ``samples`` (predictions in original-image coordinates)
    on their images alone, by mmdet's ``CocoMetric`` with the config's val annotations."""
    metric_cfg = {k: v for k, v in cfg.val_evaluator.items() if k != 'partitions'}
    evaluator = Evaluator(dict(metric_cfg, type='CocoMetric'))
    evaluator.dataset_meta = dataset_meta
    # CocoMetric evaluates every image of its annotation file unless told which: images
    # not measured would count as missed.
    evaluator.metrics[0].img_ids = [sample.img_id for sample in samples]
    evaluator.process(data_samples=list(samples))
    return evaluator.evaluate(len(samples))['coco/bbox_mAP']


@torch.no_grad()
def measure(cfg, checkpoint: str, num_images: int, nms_iou: float,
            batch_size: int = 16) -> Dict[str, float]:
    """:func:`summarise` and the two APs of the detector of ``cfg`` (an amalgamator's
    student) with ``checkpoint``, over the first ``num_images`` val images."""
    detector = build_detector(detector_cfg(cfg), checkpoint)
    items = load_items(cfg, num_images)
    samples = []
    for i in range(0, len(items), batch_size):
        samples += predict(detector, items[i:i + batch_size])
    kinds, ious, scores, num_labels, num_covered = [], [], [], 0, 0
    for sample in samples:
        # rescale=True gives the detections in the original image's frame, where the test
        # pipeline loads the labels (LoadAnnotations after Resize, as in mmdet's configs).
        pred, gt = sample.pred_instances, sample.gt_instances
        gt_bboxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
        matched = classify(pred.bboxes.cpu(), pred.scores.cpu(), pred.labels.cpu(),
                           gt_bboxes.cpu(), gt.labels.cpu())
        kinds.append(matched['kind'])
        ious.append(matched['iou'])
        scores.append(pred.scores.cpu().float())
        num_labels += len(gt)
        num_covered += int(matched['covered'].sum())
    result = summarise(torch.cat(kinds), torch.cat(ious), torch.cat(scores), num_labels,
                       num_covered)
    meta = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset)).metainfo
    result.update(ap=evaluate(cfg, samples, meta),
                  ap_nms=evaluate(cfg, nms(samples, nms_iou), meta))
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Other options are reproduce_table1.py\'s and select its models.')
    parser.add_argument('--num-images', type=int, default=500,
                        help='val images to measure on (default 500)')
    parser.add_argument('--nms-iou', type=float, default=0.5,
                        help='IoU of the class-wise NMS of the second AP (default 0.5)')
    own, args = table1.parse_reader_args(parser, argv, 'detection_errors', 'Student')
    if own.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {own.num_images}')
    if not 0 < own.nms_iou <= 1:
        parser.error(f'--nms-iou must be in (0, 1], got {own.nms_iou}')
    args.num_images, args.nms_iou = own.num_images, own.nms_iou
    return args


def main(argv=None) -> List[Dict]:
    args = parse_args(argv)
    register_all_modules()
    commit = mmka_commit()
    teachers = trained_teacher_jobs(args)
    records = []
    for name, seed, cfg, checkpoint in trained_student_jobs(args, teachers, 'errors'):
        record = dict(row=name, seed=seed, work_dir=osp.basename(cfg.work_dir),
                      **measure(cfg, checkpoint, args.num_images, args.nms_iou))
        print(f'[errors] {record}', flush=True)
        records.append(record)
    write_report(args, records, commit, argv)
    return records


def shown_path(path: str) -> str:
    """``path`` relative to the repository when inside it, else as given."""
    inside = osp.commonpath([osp.abspath(path), REPO]) == REPO
    return osp.relpath(path, REPO) if inside else path


def write_report(args, records: List[Dict], commit: str, argv=None) -> None:
    def fmt(value, scale=1.0, digits=1):
        return '—' if value is None else f'{scale * value:.{digits}f}'

    command = 'python benchmarks/detection_errors.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    kinds = ' | '.join(KINDS)
    lines = [
        "# Where a row's AP goes: its detections against the labels", '',
        f'`{command}`', '',
        f'mmka {commit}; {machine()}; {datetime.date.today().isoformat()}; '
        f'{args.family}, partition {args.partition}, size {args.size}, students '
        f'{args.student_epochs} epochs, teachers {args.teacher_epochs} epochs '
        f'({args.teacher_init}); work dir `{shown_path(args.work_dir)}`; the first '
        f'{args.num_images} val images.', '',
        'Detections: the detector\'s own (its test_cfg), no NMS. A true positive: the '
        'highest-scoring detection of a label\'s class at IoU >= 0.5 with it (COCO\'s AP50 '
        'matching). Recall: share of labels some detection of their class reaches at IoU '
        '>= 0.5, at any score. TP at IoU >= 0.75: share of labels whose true positive is '
        'that tight. TP IoU: mean IoU of the true positives; TP score: their median and '
        '10th-percentile score. False positives outranking 90 % of the true positives '
        '(scoring above that 10th percentile), per 100 labels: '
        'duplicate (its label already taken), loose (IoU 0.1-0.5 with a label of its '
        'class), wrong class (IoU >= 0.5 with a label of another class), background. AP: '
        'all classes, by the row\'s val evaluator; after NMS: the same detections after '
        f'class-wise NMS at IoU {args.nms_iou}.', '',
        f'| row | seed | recall (%) | TP at IoU >= 0.75 (%) | TP IoU | TP score (median / '
        f'10th pct) | {kinds} | AP | AP after NMS |',
        '|---|---|---|---|---|---|' + '---|' * (len(KINDS) + 2)]
    for r in records:
        false = ' | '.join(fmt(r[name]) for name in KINDS)
        lines.append(f"| {r['row']} | {r['seed']} | {fmt(r['recall'], 100)} | "
                     f"{fmt(r['tight'], 100)} | {fmt(r['tp_iou'], digits=3)} | "
                     f"{fmt(r['tp_score'], digits=3)} / {fmt(r['tp_score_p10'], digits=3)} | "
                     f"{false} | {fmt(r['ap'], 100)} | {fmt(r['ap_nms'], 100)} |")
    if not records:
        lines.append('| — | — | no trained row for these options |' + ' |' * (len(KINDS) + 5))
    lines += ['', 'Work dirs: ' + ', '.join(f"`{r['work_dir']}`" for r in records)]
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[errors] wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
