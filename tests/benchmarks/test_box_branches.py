"""benchmarks/box_branches.py: which of a DINO's box branches left their initialisation."""
import pytest
import torch

from .row_setup import quick_dino_row
from .test_reproduce_table1 import load


def branch_state(prefix, values, hidden=8):
    """A state dict with one box branch per value: a 3-Linear MLP like mmdet's, whose last
    Linear (index 4) is filled with the value."""
    state = {}
    for index, value in enumerate(values):
        for layer in (0, 2):
            state[f'{prefix}bbox_head.reg_branches.{index}.{layer}.weight'] = \
                torch.ones(hidden, hidden)
            state[f'{prefix}bbox_head.reg_branches.{index}.{layer}.bias'] = torch.ones(hidden)
        state[f'{prefix}bbox_head.reg_branches.{index}.4.weight'] = \
            torch.full((4, hidden), value)
        state[f'{prefix}bbox_head.reg_branches.{index}.4.bias'] = torch.full((4, ), value / 2)
    return state


def test_box_branch_sizes_read_the_last_linear_of_each_branch():
    bench = load('box_branches')
    state = branch_state('student.', [0.0, -0.5, 0.25, 1.0])
    sizes = bench.box_branch_sizes(state, 'student.', num_layers=3, two_stage=True)
    assert sizes == [(0.0, 0.0), (0.5, 0.25), (0.25, 0.125), (1.0, 0.5)]
    assert bench.cell(sizes[0]) == '0 (as initialised)'
    assert bench.cell(sizes[1]) == '0.500 / 0.250'
    # Without the proposal branch, only the decoder layers' are read.
    assert len(bench.box_branch_sizes(state, 'student.', 3, two_stage=False)) == 3
    with pytest.raises(ValueError, match=r'No bbox_head.reg_branches.0.\*.weight'):
        bench.box_branch_sizes(state, '', 3, two_stage=True)  # a plain detector's keys
    with pytest.raises(ValueError, match='4 decoder layers'):
        bench.box_branch_sizes(state, 'student.', 4, two_stage=True)


def test_a_trained_row_is_read_and_reported(tmp_path):
    """Plumbing on the quick DINO rows: a checkpoint holding only box branches stands for
    the label-free student's training (the teachers' checkpoints are never read: empty
    files stand for them)."""
    bench = load('box_branches')
    from mmka.utils import last_checkpoint
    from mmka.utils.analysis import detector_cfg
    common, cfg = quick_dino_row(tmp_path, 'SA+TA label-free', with_data=False)
    num_layers = detector_cfg(cfg)['decoder']['num_layers']
    values = [0.0] + [0.1] * num_layers  # layer 1 untouched; the rest and the proposals not
    torch.save(dict(state_dict=branch_state('student.', values)), last_checkpoint(cfg))
    out = tmp_path / 'box_branches.md'
    records = bench.main(common + ['--only', 'SA+TA label-free', 'Raw', '--out', str(out)])
    # Raw is not trained here: skipped.
    assert [(r['row'], r['seed'], r['ap']) for r in records] == [('SA+TA label-free', 0, None)]
    assert [w for w, _ in records[0]['sizes']] == pytest.approx(values)
    text = out.read_text()
    assert '`python benchmarks/box_branches.py --family dino' in text
    assert '| row | seed | layer 1 | layer 2 |' in text and '| proposals | AP |' in text
    assert '| SA+TA label-free | 0 | 0 (as initialised) | 0.100 / 0.050 |' in text


def test_rows_that_do_not_refine_boxes_are_refused(tmp_path):
    table1, bench = load('reproduce_table1'), load('box_branches')
    args = table1.parse_args(['--size', 'quick', '--work-dir', str(tmp_path),
                              '--data-root', str(tmp_path / 'data')])
    cfg = table1.student_job('Raw', args, table1.teacher_jobs(args), 0)
    with pytest.raises(ValueError, match='does not refine boxes layer by layer'):
        bench.measure(cfg, 'unused.pth')


def test_argument_errors_are_clear(capsys):
    bench = load('box_branches')
    with pytest.raises(SystemExit):
        bench.parse_args(['--family', 'dino', '--only'])
    assert 'name at least one row' in capsys.readouterr().err
