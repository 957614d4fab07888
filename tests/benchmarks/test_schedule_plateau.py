"""The plateau rule of benchmarks/schedule_plateau.py."""
import os.path as osp
import sys
from argparse import Namespace

import pytest
from mmengine.config import Config

from ..conftest import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
from schedule_plateau import (final_ap, import_report, parse_args, run_cfg,  # noqa: E402
                              verdict, write_report)


def test_shortest_schedule_within_one_ap_of_twice_as_long():
    finals = {12: [17.0, 18.0], 24: [25.0, 26.0], 48: [26.0, 26.4], 96: [26.5]}
    assert verdict(finals).startswith('**S = 24 epochs**: 25.5 AP, within 1 AP of 48')


def test_undecided_until_a_pair_is_within_one_ap():
    text = verdict({12: [17.0], 24: [25.0], 48: []})
    assert text.startswith('Not decided') and '12 -> 24 epochs: +8.0 AP' in text
    assert text.endswith('Next: 48 epochs.')
    assert verdict({12: [], 24: []}) == ('Not decided: no finished schedule is within 1 AP '
                                         'of the schedule twice as long.')


def test_final_ap_only_once_the_last_epoch_is_validated():
    curve = [[4, 0.05, 0.1], [8, 0.12, 0.2]]
    assert final_ap(curve, 12) is None
    assert final_ap(curve + [[12, 0.171, 0.3]], 12) == 17.1


def test_report_names_the_commit_the_run_started_at(tmp_path):
    """A commit made while the runs train must not be credited with them."""
    args = Namespace(config='configs/baselines/x.py', schedules=[12], seeds=[0], val_interval=2,
                     jobs=2, out=str(tmp_path / 'plateau.md'), records=str(tmp_path / 'rec'))
    runs = {(12, 0): Config(dict(work_dir=str(tmp_path / 'e12-seed0'),
                                 train_cfg=dict(max_epochs=12)))}
    write_report(args, runs, 1.0, commit='abc1234')
    text = (tmp_path / 'plateau.md').read_text()
    assert 'Provenance: mmka abc1234; seed 0.' in text
    assert '| 12 | 0 | not run | — |' in text


#: A report as this script wrote it before records existed (the format of
#: benchmarks/results/plateau_*.md at bae217c), cut down: one run unfinished, one not run.
OLD_REPORT = """# Schedule plateau: `conditional-detr_r18tiny_1xb16-30e_shapes.py`

Command: `python benchmarks/schedule_plateau.py --config configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py --schedules 12 24 --seeds 0 1 --val-interval 4 --jobs 2`

| schedule (epochs) | seed | final AP | train (min) |
|---|---|---|---|
| 12 | 0 | 19.4 | 17 |
| 12 | 1 | not run | — |
| 24 | 0 | 42.6 | 35 |
| 24 | 1 | training (validated to epoch 8) | 12 |

## Learning curves (AP at each validation)

| schedule | seed | epoch: AP |
|---|---|---|
| 12 | 0 | 4: 0.7, 8: 7.6, 12: 19.4 |
| 12 | 1 |  |
| 24 | 0 | 4: 0.7, 8: 7.6, 12: 16.4, 16: 27.1, 20: 35.9, 24: 42.6 |
| 24 | 1 | 4: 1.4, 8: 9.1 |
"""


def test_an_old_report_becomes_records_that_the_report_reads(tmp_path):
    """A new machine has no work dirs: finished runs of an old report are imported as
    records (marked as such) under their configs' keys and reported, and not trained again."""
    old = tmp_path / 'old.md'
    old.write_text(OLD_REPORT)
    args = parse_args(['--schedules', '12', '24', '--seeds', '0', '1', '--work-dir',
                       str(tmp_path / 'work'), '--records', str(tmp_path / 'rec'), '--out',
                       str(tmp_path / 'new.md'), '--data-root', str(tmp_path / 'data')])
    assert import_report(args, str(old)) == [(12, 0), (24, 0)]
    runs = {(e, s): run_cfg(args, e, s) for e in (12, 24) for s in (0, 1)}
    recorded = tmp_path / 'rec' / osp.basename(runs[24, 0].work_dir) / 'curve.json'
    assert recorded.is_file() and not (tmp_path / 'rec' / osp.basename(
        runs[24, 1].work_dir)).exists()  # unfinished: not a record
    write_report(args, runs, 0.1, commit='abc1234')
    text = (tmp_path / 'new.md').read_text()
    assert '| 12 | 0 | 19.4 | 17 |' in text and '| 24 | 0 | 42.6 | 35 |' in text
    assert '| 24 | 1 | not run | — |' in text and '12 -> 24 epochs: +23.2 AP' in text
    assert '| 24 | 0 | 4: 0.7, 8: 7.6, 12: 16.4, 16: 27.1, 20: 35.9, 24: 42.6 |' in text
    assert f'Run 24 epochs / seed 0: imported from `{old}' in text  # outside the repo
    assert 'AP to 0.1 points' in text
    assert import_report(args, str(old)) == [(12, 0), (24, 0)]  # again: records kept


def test_a_report_of_another_config_is_not_imported(tmp_path):
    old = tmp_path / 'old.md'
    old.write_text(OLD_REPORT.replace('--val-interval 4', '--val-interval 2'))
    args = parse_args(['--records', str(tmp_path / 'rec')])
    with pytest.raises(ValueError, match='not a report of --config .* --val-interval 4'):
        import_report(args, str(old))
