"""benchmarks/ta_targets.py: the teachers' soft targets compared with the labels."""
import os

import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample

from .test_reproduce_table1 import load


def targets(boxes, labels, scores, probs, head='sigmoid', num_classes=3):
    """SoftTargetBuilder's output for one image (k targets, given as lists)."""
    width = num_classes + (1 if head == 'softmax' else 0)
    return InstanceData(metainfo=dict(head=head, temperature=1.0),
                        bboxes=torch.tensor(boxes, dtype=torch.float).reshape(-1, 4),
                        labels=torch.tensor(labels, dtype=torch.long),
                        scores=torch.tensor(scores, dtype=torch.float),
                        probs=torch.tensor(probs, dtype=torch.float).reshape(-1, width))


def test_each_target_is_a_match_a_duplicate_a_wrong_class_or_background():
    bench = load('ta_targets')
    gt_boxes = torch.tensor([[0.25, 0.25, 0.2, 0.2], [0.75, 0.75, 0.2, 0.2]])
    gt_labels = torch.tensor([0, 1])
    # t0: label A exactly; t1: a shifted copy of A (IoU 0.82), same class; t2: on B but
    # class 2; t3: where nothing is labelled. Sigmoid probabilities over 3 classes.
    found = targets([[0.25, 0.25, 0.2, 0.2], [0.27, 0.25, 0.2, 0.2],
                     [0.75, 0.75, 0.2, 0.2], [0.5, 0.1, 0.1, 0.1]],
                    [0, 0, 2, 1], [0.9, 0.3, 0.4, 0.2],
                    [[0.9, 0.05, 0.0], [0.3, 0.0, 0.0], [0.0, 0.1, 0.4], [0.0, 0.2, 0.0]])
    counts = bench.compare_with_labels(found, gt_boxes, gt_labels, iou_thr=0.5)
    assert counts['matched'] == 1 and counts['iou'] == pytest.approx(1.0)
    assert counts['conf_matched'] == pytest.approx(0.9)
    assert counts['other_mass'] == pytest.approx(0.05)  # t0's probability on class 1
    assert (counts['duplicate'], counts['wrong_class'], counts['background']) == (1, 1, 1)
    assert counts['conf_unmatched'] == pytest.approx(0.3 + 0.4 + 0.2)
    result = bench.summary(counts)
    assert result['precision'] == 0.25 and result['recall'] == 0.5
    assert result['conf_unmatched'] == pytest.approx(0.3)
    assert result['precision'] + result['duplicate'] + result['wrong_class'] + \
        result['background'] == pytest.approx(1.0)


def test_matching_is_one_to_one_by_class_and_ignores_the_background_probability():
    bench = load('ta_targets')
    gt_boxes = torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.52, 0.5, 0.4, 0.4]])
    gt_labels = torch.tensor([1, 0])
    # Softmax probabilities over 2 classes + background. Target 0 (class 0) lies exactly
    # on label 0 (class 1): it must match label 1 (class 0, IoU 0.9) instead, and target 1
    # (class 1) label 0, although each is closer to the other's label.
    found = targets([[0.5, 0.5, 0.4, 0.4], [0.52, 0.5, 0.4, 0.4]], [0, 1], [0.6, 0.7],
                    [[0.6, 0.1, 0.3], [0.2, 0.7, 0.1]], head='softmax', num_classes=2)
    counts = bench.compare_with_labels(found, gt_boxes, gt_labels, iou_thr=0.5)
    assert counts['matched'] == 2
    assert counts['iou'] == pytest.approx(2 * 0.152 / 0.168)  # 0.38 x 0.4 overlap each
    assert counts['other_mass'] == pytest.approx(0.1 + 0.2)  # background not counted


def test_images_without_targets_or_labels_count_as_misses():
    bench = load('ta_targets')
    none = targets([], [], [], [])
    counts = bench.compare_with_labels(none, torch.tensor([[0.5, 0.5, 0.2, 0.2]]),
                                       torch.tensor([2]), iou_thr=0.5)
    assert (counts['targets'], counts['labels'], counts['matched']) == (0, 1, 0)
    result = bench.summary(counts)
    assert result['precision'] is None and result['recall'] == 0.0
    lone = targets([[0.5, 0.5, 0.2, 0.2]], [2], [0.5], [[0.0, 0.0, 0.5]])
    counts = bench.compare_with_labels(lone, torch.zeros((0, 4)), torch.zeros(0, dtype=torch.long),
                                       iou_thr=0.5)
    assert (counts['background'], counts['matched']) == (1, 0)


def test_labels_are_normalised_by_the_image_shape_as_the_detr_loss_does():
    bench = load('ta_targets')
    sample = DetDataSample(metainfo=dict(img_shape=(100, 200)))  # (h, w)
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[20., 10., 60., 50.]]))
    assert bench.normalised_labels(sample)[0].tolist() == pytest.approx([0.2, 0.3, 0.2, 0.4])


def test_quick_teachers_targets_are_reported(tmp_path):
    table1, bench = load('reproduce_table1'), load('ta_targets')
    common = ['--family', 'dino', '--size', 'quick', '--work-dir', str(tmp_path / 'work'),
              '--data-root', str(tmp_path / 'data')]
    out = tmp_path / 'targets.md'
    with pytest.raises(ValueError, match='not trained'):
        bench.main(common + ['--out', str(out)])
    table1.main(common + ['--train-only', '--only'])  # the teachers alone
    results = bench.main(common + ['--num-images', '6', '--out', str(out)])
    assert list(results) == [0.1]  # the Student row's own targets.score_thr
    result = results[0.1]
    assert result['labels_per_image'] > 0 and 0 <= result['recall'] <= 1
    shares = [result[k] for k in ('precision', 'duplicate', 'wrong_class', 'background')]
    if result['targets_per_image']:
        assert sum(shares) == pytest.approx(1.0)
    text = out.read_text()
    assert text.startswith("# What the teachers' soft targets carry beyond the labels")
    assert '`python benchmarks/ta_targets.py --family dino' in text
    assert 'the first 6 training images' in text and '| recall: labels matched' in text
    assert '| measure | conf > 0.1 |' in text
    results = bench.main(common + ['--split', 'val', '--num-images', '3', '--out', str(out)])
    assert 0 <= results[0.1]['recall'] <= 1
    assert 'the first 3 validation images' in out.read_text()
    # A sweep: one column per threshold, from the same teacher outputs; a stricter
    # threshold keeps a subset of the targets (the highest-conf ones, as training does).
    results = bench.main(common + ['--num-images', '4', '--score-thr', '0', '0.1', '0.5',
                                   '--out', str(out)])
    assert list(results) == [0.0, 0.1, 0.5]
    per_image = [r['targets_per_image'] for r in results.values()]
    assert per_image == sorted(per_image, reverse=True) and per_image[0] > per_image[-1]
    assert '| measure | conf > 0 | conf > 0.1 | conf > 0.5 |' in out.read_text()
    table1_file = os.path.basename(table1.parse_args(common).out)  # table1_<suffix>
    assert os.path.basename(bench.parse_args(common + ['--split', 'val']).out) == \
        'ta_targets_val_' + table1_file[len('table1_'):]
    with pytest.raises(ValueError, match="Row 'SA only' has no TaskAmalgamation hook"):
        bench.main(common + ['--row', 'SA only', '--num-images', '2', '--out', str(out)])


def test_argument_errors_are_clear(capsys):
    bench = load('ta_targets')
    for argv, message in ((['--num-images', '0'], '--num-images must be >= 1'),
                          (['--iou-thr', '0'], '--iou-thr must be in (0, 1]'),
                          (['--score-thr', '0.2', '1'], '--score-thr must be in [0, 1), got 1.0'),
                          (['--family', 'dino', '--row', 'Nope'], "--row 'Nope' is not a row")):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
        assert message in capsys.readouterr().err
