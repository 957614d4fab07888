"""The plateau rule of benchmarks/schedule_plateau.py."""
import os.path as osp
import sys
from argparse import Namespace

from mmengine.config import Config

from ..conftest import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
from schedule_plateau import final_ap, verdict, write_report  # noqa: E402


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
                     jobs=2, out=str(tmp_path / 'plateau.md'))
    runs = {(12, 0): Config(dict(work_dir=str(tmp_path / 'e12-seed0')))}
    write_report(args, runs, 1.0, commit='abc1234')
    text = (tmp_path / 'plateau.md').read_text()
    assert 'Provenance: mmka abc1234; seed 0.' in text
    assert '| 12 | 0 | not run | — |' in text
