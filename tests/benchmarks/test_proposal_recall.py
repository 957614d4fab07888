"""benchmarks/proposal_recall.py: a DINO row's encoder proposals against the labels."""
import os

import pytest
import torch

from .test_reproduce_table1 import load


def test_cover_counts_labels_reached_and_proposals_on_objects():
    bench = load('proposal_recall')
    labels = torch.tensor([[0.25, 0.25, 0.2, 0.2], [0.75, 0.75, 0.2, 0.2]])
    # p0 is label 0 exactly; p1 a copy of label 1 shifted by a quarter of its width
    # (IoU 0.6: covered at 0.5, not at 0.7); p2 on nothing.
    proposals = torch.tensor([[0.25, 0.25, 0.2, 0.2], [0.80, 0.75, 0.2, 0.2],
                              [0.5, 0.05, 0.05, 0.05]])
    counts = bench.cover(proposals, labels)
    assert counts['labels'] == 2 and counts['proposals'] == 3
    assert counts['covered@0.5'] == 2 and counts['covered@0.7'] == 1
    assert counts['on_object'] == 2
    assert counts['best_iou'] == pytest.approx(1.0 + 0.15 / 0.25)
    result = bench.summary(counts)
    assert result['recall@0.5'] == 1.0 and result['recall@0.7'] == 0.5
    assert result['on_object'] == pytest.approx(2 / 3)
    # An image without labels: nothing covered, no proposal on an object.
    empty = bench.cover(proposals, torch.zeros((0, 4)))
    assert empty['labels'] == 0 and empty['on_object'] == 0
    assert bench.summary(empty)['recall@0.5'] is None


def test_a_trained_row_is_measured_and_reported(tmp_path):
    """Plumbing on the quick DINO rows: a checkpoint of the label-free student's initial
    weights stands for its training (the teachers' checkpoints are never read here: only
    their existence is checked, so empty files stand for them)."""
    table1, bench = load('reproduce_table1'), load('proposal_recall')
    from mmka.utils import last_checkpoint
    from mmka.utils.analysis import build_detector, detector_cfg
    common = ['--family', 'dino', '--size', 'quick', '--work-dir', str(tmp_path / 'work'),
              '--data-root', str(tmp_path / 'data')]
    args = table1.parse_args(common)
    size = table1.SIZES[args.size]
    table1.ensure_shapes_dataset(args.data_root, num_train=size['num_train'],
                                 num_val=size['num_val'])
    teachers = table1.teacher_jobs(args)
    for cfg in teachers:
        os.makedirs(cfg.work_dir, exist_ok=True)
        open(last_checkpoint(cfg), 'w').close()
    cfg = table1.student_job('SA+TA label-free', args, teachers, 0)
    os.makedirs(cfg.work_dir)
    # init_weights: without it DINO's level_embed (an nn.Parameter of torch.Tensor(...)) is
    # whatever memory it was given, sometimes NaN, which the benchmark reports as it is.
    # Seeded so the weights do not depend on how much randomness earlier tests drew.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        detector = build_detector(detector_cfg(cfg))
        detector.init_weights()
        state_dict = detector.state_dict()
    assert all(torch.isfinite(value).all() for value in state_dict.values())
    torch.save(dict(state_dict=state_dict), last_checkpoint(cfg))
    out = tmp_path / 'proposals.md'
    records = bench.main(common + ['--only', 'SA+TA label-free', 'Raw', '--num-images', '3',
                                   '--out', str(out)])
    # Raw is not trained here: skipped.
    assert [(r['row'], r['seed']) for r in records] == [('SA+TA label-free', 0)]
    record = records[0]
    for key in ('recall@0.5', 'recall@0.7', 'best_iou', 'on_object'):
        assert 0 <= record[key] <= 1
    assert record['recall@0.7'] <= record['recall@0.5'] and record['ap'] is None
    text = out.read_text()
    assert text.startswith("# Where the DINO decoder starts: the encoder's top-k proposals")
    assert '`python benchmarks/proposal_recall.py --family dino' in text
    assert '| SA+TA label-free | 0 |' in text and 'the first 3 val images' in text


def test_argument_errors_are_clear(capsys):
    bench = load('proposal_recall')
    for argv, message in ((['--num-images', '0'], '--num-images must be >= 1'),
                          (['--family', 'dino', '--only'], 'name at least one row')):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
        assert message in capsys.readouterr().err
