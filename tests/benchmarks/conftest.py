"""Fixtures shared by the benchmark tests."""
import pytest

from .test_reproduce_table1 import load


@pytest.fixture(scope='session')
def quick_dino_slim_rows(tmp_path_factory):
    """Table I at ``--size quick`` for DINO with the rows the compression benchmarks read:
    Student, Student_slim and 'slim random', trained once for every test that needs them.

    Returns ``(common, rows)``: the arguments naming the family, size, work dir and data
    root (every benchmark that reads these checkpoints must get the same ones), and
    ``reproduce_table1.main``'s rows (row name -> one record per seed).
    """
    root = tmp_path_factory.mktemp('quick_dino_slim')
    common = ['--family', 'dino', '--size', 'quick', '--work-dir', str(root / 'work'),
              '--data-root', str(root / 'data')]
    rows = load('reproduce_table1').main(
        common + ['--only', 'Student', 'Student_slim', 'slim random',
                  '--out', str(root / 'table1.md')])
    return common, rows
