"""benchmarks/detection_errors.py: a row's detections against the labels, by kind of error."""
import pytest
import torch

from .row_setup import quick_dino_row, save_initial_weights
from .test_reproduce_table1 import load


def test_classify_names_every_kind_of_detection():
    bench = load('detection_errors')
    kinds = {name: i for i, name in enumerate(bench.KINDS)}
    gt_bboxes = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    gt_labels = torch.tensor([0, 1])
    bboxes = torch.tensor([
        [0., 0., 10., 10.],    # label 0 exactly: true positive
        [0., 0., 10., 9.],     # label 0 again, lower score: duplicate
        [0., 0., 10., 3.],     # IoU 0.3 with label 0: loose
        [20., 20., 30., 30.],  # on label 1 but class 0: wrong class
        [50., 50., 60., 60.],  # on nothing: background
        [21., 20., 30., 30.],  # label 1 at IoU 0.9, class 1, low score: true positive
    ])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    labels = torch.tensor([0, 0, 0, 0, 0, 1])
    result = bench.classify(bboxes, scores, labels, gt_bboxes, gt_labels)
    assert result['kind'].tolist() == [-1, kinds['duplicate'], kinds['loose'],
                                       kinds['wrong class'], kinds['background'], -1]
    assert result['iou'].tolist() == pytest.approx([1.0, 0, 0, 0, 0, 0.9])
    assert result['covered'].tolist() == [True, True]
    # Matching goes by score, not by list order: the better-scored copy takes the label.
    swapped = bench.classify(bboxes[:2], torch.tensor([0.1, 0.9]), labels[:2], gt_bboxes,
                             gt_labels)
    assert swapped['kind'].tolist() == [kinds['duplicate'], -1]
    assert swapped['covered'].tolist() == [True, False]
    # No detections, or no labels.
    none = bench.classify(torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                          gt_bboxes, gt_labels)
    assert none['kind'].numel() == 0 and none['covered'].tolist() == [False, False]
    empty = bench.classify(bboxes, scores, labels, torch.zeros((0, 4)),
                           torch.zeros(0, dtype=torch.long))
    assert empty['kind'].tolist() == [kinds['background']] * 6


def test_summarise_counts_false_positives_that_outrank_most_true_positives():
    bench = load('detection_errors')
    duplicate, background = bench.KINDS.index('duplicate'), bench.KINDS.index('background')
    kinds = torch.tensor([-1, -1, -1, duplicate, duplicate, background])
    ious = torch.tensor([0.9, 0.8, 0.7, 0.0, 0.0, 0.0])
    scores = torch.tensor([0.9, 0.5, 0.3, 0.6, 0.32, 0.95])
    result = bench.summarise(kinds, ious, scores, num_labels=4, num_covered=3)
    assert result['recall'] == 0.75 and result['tight'] == 0.5
    assert result['tp_iou'] == pytest.approx(0.8) and result['tp_score'] == 0.5
    # The 10th percentile of the TP scores (0.3, 0.5, 0.9) is 0.34: the duplicate at 0.6
    # and the background at 0.95 outrank it, the duplicate at 0.32 does not (per 100 labels).
    assert result['tp_score_p10'] == pytest.approx(0.34)
    assert result['duplicate'] == 25.0 and result['background'] == 25.0
    assert result['loose'] == 0.0 and result['wrong class'] == 0.0
    for num_labels, num_covered in ((0, 0), (2, 0)):  # no labels; no true positive
        nothing = bench.summarise(torch.tensor([background]), torch.zeros(1), torch.ones(1),
                                  num_labels=num_labels, num_covered=num_covered)
        assert nothing['tp_score'] is None and nothing['background'] is None
    assert nothing['recall'] == 0.0


def test_nms_removes_duplicates_of_a_class_only():
    bench = load('detection_errors')
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    sample = DetDataSample()
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 9.], [0., 0., 10., 10.]]),
        scores=torch.tensor([0.9, 0.8, 0.7]), labels=torch.tensor([0, 0, 1]))
    kept = bench.nms([sample], 0.5)[0].pred_instances
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7])
    assert len(sample.pred_instances) == 3  # the input is not changed


def test_a_trained_row_is_measured_and_reported(tmp_path):
    """Plumbing on the quick DINO rows: a checkpoint of Raw's initial weights stands for
    its training (the teachers' checkpoints are never read here: only their existence is
    checked, so empty files stand for them)."""
    bench = load('detection_errors')
    common, cfg = quick_dino_row(tmp_path, 'Raw')
    save_initial_weights(cfg)
    out = tmp_path / 'errors.md'
    records = bench.main(common + ['--only', 'Raw', 'Student', '--num-images', '3',
                                   '--out', str(out)])
    # The Student is not trained here: skipped.
    assert [(r['row'], r['seed']) for r in records] == [('Raw', 0)]
    record = records[0]
    assert 0 <= record['recall'] <= 1
    assert 0 <= record['ap'] <= 1 and 0 <= record['ap_nms'] <= 1
    text = out.read_text()
    assert text.startswith("# Where a row's AP goes: its detections against the labels")
    assert '`python benchmarks/detection_errors.py --family dino' in text
    assert '| Raw | 0 |' in text and 'the first 3 val images' in text


def test_argument_errors_are_clear(capsys):
    bench = load('detection_errors')
    for argv, message in ((['--num-images', '0'], '--num-images must be >= 1'),
                          (['--nms-iou', '1.5'], '--nms-iou must be in (0, 1]'),
                          (['--family', 'dino', '--only'], 'name at least one row')):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
        assert message in capsys.readouterr().err
