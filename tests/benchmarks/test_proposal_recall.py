"""benchmarks/proposal_recall.py: a DINO row's encoder proposals against the labels."""
import pytest
import torch

from .row_setup import quick_dino_row, save_initial_weights
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
    bench = load('proposal_recall')
    common, cfg = quick_dino_row(tmp_path, 'SA+TA label-free')
    state_dict = save_initial_weights(cfg)
    assert all(torch.isfinite(value).all() for value in state_dict.values())
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
