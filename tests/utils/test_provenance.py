"""mmka.utils.provenance: the commit, seeds and teachers' precision of a results file."""
import subprocess

import pytest
from mmengine.config import Config

from mmka.utils import mmka_commit, provenance, teacher_precision
from mmka.utils.provenance import REPO


def _git(repo, *args):
    return subprocess.run(['git', '-C', str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_commit_of_this_checkout():
    head = _git(REPO, 'rev-parse', '--short', 'HEAD')
    dirty = bool(_git(REPO, 'status', '--porcelain', '--untracked-files=no'))
    assert mmka_commit() == head + ('+dirty' if dirty else '')


def test_dirty_only_for_tracked_changes(tmp_path):
    _git(tmp_path, 'init', '-q')
    (tmp_path / 'a.txt').write_text('a')
    _git(tmp_path, 'add', 'a.txt')
    _git(tmp_path, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'a')
    head = _git(tmp_path, 'rev-parse', '--short', 'HEAD')
    (tmp_path / 'untracked.txt').write_text('b')
    assert mmka_commit(str(tmp_path)) == head
    (tmp_path / 'a.txt').write_text('changed')
    assert mmka_commit(str(tmp_path)) == head + '+dirty'


def test_unknown_without_git(tmp_path, monkeypatch):
    assert mmka_commit(str(tmp_path)) == 'unknown'  # not a checkout
    monkeypatch.setenv('PATH', str(tmp_path))  # no git executable
    assert mmka_commit() == 'unknown'


@pytest.mark.parametrize('model, optim, expected', [
    (dict(type='DETR'), {}, None),
    (dict(type='KADETRAmalgamator', teachers=[]), {}, 'float32'),
    (dict(type='KADETRAmalgamator', teachers=[], teacher_dtype=None), {}, 'float32'),
    (dict(type='KADETRAmalgamator', teachers=[], teacher_dtype='bfloat16'), {}, 'bfloat16'),
    (dict(type='KDDETRDistiller', teacher={}), dict(type='AmpOptimWrapper'), 'float16 (AMP)'),
    (dict(type='TeacherEnsemble', teachers=[]), dict(type='OptimWrapper'), 'float32'),
])
def test_teacher_precision(model, optim, expected):
    assert teacher_precision(Config(dict(model=model, optim_wrapper=optim))) == expected


def test_provenance_line():
    commit = mmka_commit()
    assert provenance([0]) == f'mmka {commit}; seed 0'
    assert provenance([0], commit='abc1234') == 'mmka abc1234; seed 0'
    assert provenance([0, 1], {'Raw': None}) == f'mmka {commit}; seeds 0, 1; no teachers'
    assert provenance([3], {'Raw': None, 'Student': 'bfloat16', 'SAG': 'bfloat16'}) == \
        f'mmka {commit}; seed 3; teachers bfloat16'
    assert provenance([0], {'Ensemble': 'float32', 'Student, TA by points': 'bfloat16'}) == \
        f'mmka {commit}; seed 0; teachers float32 for `Ensemble`; bfloat16 for ' \
        '`Student, TA by points`'
