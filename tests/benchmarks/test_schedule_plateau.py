"""The plateau rule of benchmarks/schedule_plateau.py."""
import os.path as osp
import sys

from ..conftest import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
from schedule_plateau import final_ap, verdict  # noqa: E402


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
