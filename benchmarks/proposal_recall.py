"""Where a two-stage DINO's decoder starts: the encoder's top-k proposals against the labels.

    python benchmarks/proposal_recall.py [reproduce_table1.py's model options]
        [--only ROW ...] [--seeds 0 1] [--num-images N] [--out FILE]

DINO (two-stage) does not start its decoder from learned queries, as DETR does: it scores
every encoder token with an extra class branch, places a box at each with an extra box
branch (a delta on a fixed anchor), keeps the k best-scoring ones and gives their boxes to
the decoder as reference points. Only DINO's encoder loss against the labels (``enc_loss_*``)
trains that branch pair. A row without ground truth (label-free amalgamation, λ_d = 0)
leaves it as initialised: TA distils the decoder's outputs, whose reference boxes are the
proposals, detached. This script trains nothing: it reads the rows that
``benchmarks/reproduce_table1.py`` trained with the same options (``--family``, ``--size``,
``--teacher-epochs``, ``--student-epochs``, ``--teacher-init``, ``--partition``, ``--seeds``;
the same work dirs) and, for every trained (row, seed), over the first ``--num-images``
validation images, gives

* the proposal recall: the share of labelled objects that some proposal covers at IoU
  >= 0.5 and >= 0.7 (class-agnostic: the proposals are the decoder's starting boxes);
* the mean, over labelled objects, of the best IoU any proposal reaches;
* the share of proposals on an object (IoU >= 0.5 with some label);
* the row's all-class AP, if ``reproduce_table1.py`` has evaluated it.

Rows: by default every row of the family; those not trained here are skipped. A row whose
detector has no two-stage proposals (not DINO) is refused. The results file (default
``benchmarks/results/proposal_recall_<table1 suffix>.md``) states the command, commit,
machine and date.
"""
import argparse
import datetime
import os.path as osp
import shlex
import sys
from typing import Dict, List, Optional

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import reproduce_table1 as table1  # noqa: E402  (the models and work dirs it trained)
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmka.models.amalgamation_hooks.recorder import OutputRecorder  # noqa: E402
from mmka.utils import machine, mmka_commit  # noqa: E402
from mmka.utils.analysis import (build_detector, detector_cfg, load_items,  # noqa: E402
                                 preprocess)
from compression_mismatch import cached_ap  # noqa: E402
from ta_targets import normalised_labels  # noqa: E402
from table1_rows import trained_student_jobs, trained_teacher_jobs  # noqa: E402

#: The IoUs at which a labelled object counts as covered by a proposal.
IOU_THRS = (0.5, 0.7)
#: Per-image counts and sums that :func:`cover` returns and :func:`summary` turns into rates.
COUNTS = ('labels', 'proposals', 'best_iou', 'on_object',
          *(f'covered@{t}' for t in IOU_THRS))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='Other options are reproduce_table1.py\'s and select its models.')
    parser.add_argument('--num-images', type=int, default=500,
                        help='val images to measure on (default 500)')
    own, args = table1.parse_reader_args(parser, argv, 'proposal_recall',
                                         '"SA+TA label-free"')
    if own.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {own.num_images}')
    args.num_images = own.num_images
    return args


def cover(proposals: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    """How one image's proposals cover its labelled objects.

    Args:
        proposals (Tensor): (k, 4) normalised (cx, cy, w, h), the decoder's initial
            reference boxes.
        labels (Tensor): (n, 4) the labelled boxes in the same frame.

    Returns:
        dict: the :data:`COUNTS` of the image: ``labels`` = n, ``proposals`` = k,
        ``best_iou`` the sum over labels of the best IoU of any proposal, ``on_object`` the
        proposals at IoU >= 0.5 with some label, ``covered@t`` the labels that some
        proposal reaches at IoU >= t.
    """
    k, n = len(proposals), len(labels)
    ious = bbox_overlaps(bbox_cxcywh_to_xyxy(proposals.float()),
                         bbox_cxcywh_to_xyxy(labels.float())) if k and n \
        else proposals.new_zeros((k, n))
    best = ious.max(0).values if k and n else ious.new_zeros(n)
    counts = dict(labels=float(n), proposals=float(k), best_iou=float(best.sum()),
                  on_object=float((ious >= 0.5).any(1).sum()) if n else 0.0)
    counts.update({f'covered@{t}': float((best >= t).sum()) for t in IOU_THRS})
    return counts


def summary(counts: Dict[str, float]) -> Dict[str, Optional[float]]:
    """Rates of summed :data:`COUNTS` (None where nothing was counted)."""
    per = lambda a, b: counts[a] / counts[b] if counts[b] else None  # noqa: E731
    result = dict(best_iou=per('best_iou', 'labels'), on_object=per('on_object', 'proposals'))
    result.update({f'recall@{t}': per(f'covered@{t}', 'labels') for t in IOU_THRS})
    return result


@torch.no_grad()
def measure(cfg, checkpoint: str, num_images: int, batch_size: int = 16) -> Dict[str, float]:
    """Summed :data:`COUNTS` over the first ``num_images`` val images, for the detector of
    ``cfg`` (an amalgamator's student) with ``checkpoint``.

    Raises:
        ValueError: naming the detector type, if it has no two-stage proposals.
    """
    detector = build_detector(detector_cfg(cfg), checkpoint)
    if not getattr(detector, 'as_two_stage', False):
        raise ValueError(f'{type(detector).__name__} has no two-stage proposals to measure; '
                         'pass rows of the DINO family (--family dino).')
    # In evaluation mode the decoder's reference points are the k proposals, sigmoid-ed
    # (no denoising queries before them).
    recorder = OutputRecorder(detector, ['decoder'], with_kwargs=True)
    items = load_items(cfg, num_images)
    total = dict.fromkeys(COUNTS, 0.0)
    for i in range(0, len(items), batch_size):
        data = preprocess(detector, items[i:i + batch_size])
        detector.predict(data['inputs'], data['data_samples'])
        proposals = recorder.kwargs['decoder']['reference_points']
        for image_proposals, sample in zip(proposals, data['data_samples']):
            counts = cover(image_proposals.cpu(), normalised_labels(sample).cpu())
            for key in COUNTS:
                total[key] += counts[key]
        recorder.clear()
    recorder.remove()
    return total


def main(argv=None) -> List[Dict]:
    args = parse_args(argv)
    register_all_modules()
    commit = mmka_commit()
    teachers = trained_teacher_jobs(args)
    records = []
    for name, seed, cfg, checkpoint in trained_student_jobs(args, teachers, 'proposals'):
        record = dict(row=name, seed=seed, work_dir=osp.basename(cfg.work_dir),
                      ap=cached_ap(args, cfg),
                      **summary(measure(cfg, checkpoint, args.num_images)))
        print(f'[proposals] {record}', flush=True)
        records.append(record)
    write_report(args, records, commit, argv)
    return records


def write_report(args, records: List[Dict], commit: str, argv=None) -> None:
    pct = lambda v: '—' if v is None else f'{100 * v:.1f}'  # noqa: E731
    command = 'python benchmarks/proposal_recall.py ' + shlex.join(
        sys.argv[1:] if argv is None else argv)
    thrs = ' | '.join(f'recall, IoU >= {t}' for t in IOU_THRS)
    lines = [
        "# Where the DINO decoder starts: the encoder's top-k proposals against the labels", '',
        f'`{command}`', '',
        f'mmka {commit}; {machine()}; {datetime.date.today().isoformat()}; '
        f'{args.family}, partition {args.partition}, size {args.size}, students '
        f'{args.student_epochs} epochs, teachers {args.teacher_epochs} epochs '
        f'({args.teacher_init}); the first {args.num_images} val images.', '',
        "Proposals: the boxes the decoder starts from (the encoder's k best-scoring tokens, "
        'their boxes placed by the two-stage box branch). Recall: share of labelled objects '
        'some proposal covers at the IoU (class-agnostic); best IoU: mean over labelled '
        'objects of the best IoU of any proposal; on an object: share of proposals at IoU '
        '>= 0.5 with some label. AP: the row\'s all-class AP (reproduce_table1.py).', '',
        f'| row | seed | {thrs} | best IoU | proposals on an object | AP |',
        '|---|---|' + '---|' * (len(IOU_THRS) + 3)]
    for r in records:
        recalls = ' | '.join(pct(r[f'recall@{t}']) for t in IOU_THRS)
        best = '—' if r['best_iou'] is None else f"{r['best_iou']:.2f}"
        lines.append(f"| {r['row']} | {r['seed']} | {recalls} | {best} | "
                     f"{pct(r['on_object'])} | {pct(r['ap'])} |")
    if not records:
        lines.append('| — | — | no trained row for these options |'
                     + ' |' * (len(IOU_THRS) + 2))
    lines += ['', 'Work dirs: ' + ', '.join(f"`{r['work_dir']}`" for r in records)]
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'[proposals] wrote {args.out}', flush=True)


if __name__ == '__main__':
    main()
