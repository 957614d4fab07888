"""benchmarks/amalgamation_step.py: every variant takes real training steps on the CPU."""
import argparse
import os.path as osp

import pytest

from ..conftest import REPO
from .test_reproduce_table1 import load


@pytest.fixture(scope='module')
def bench():
    return load('amalgamation_step')


def test_measure_runs_every_variant(bench, shapes_root):
    # The cached variant hashes its teachers' checkpoints at its first step, after the
    # models are built: they must still exist then (they once lived in a folder that was
    # removed right after building, and the benchmark died on its first cached step).
    args = argparse.Namespace(config=osp.join(REPO, 'configs/ka/shapes_2t.py'),
                              data_root=shapes_root, steps=1, batch_size=2, device='cpu',
                              seed=0)
    results = bench.measure(args, list(bench.VARIANTS))
    assert set(results) == set(bench.VARIANTS)
    for variant, result in results.items():
        assert result['step'] > 0, variant
        assert (result['teachers'] is None) == (not variant.startswith('ka')), variant
        assert (result['matching'] > 0) == variant.startswith('ka'), variant
    cached = results['ka_cached']
    # Pass 0 fills the cache (one miss per image and teacher), pass 1 reads it back.
    assert cached['misses'] > 0 and cached['hits'] >= cached['misses']
    assert cached['bytes_per_image'] > 0
    # float16 storage changes the SA terms only by rounding.
    assert cached['sa_rel_error'] < 1e-3


def test_run_child_reports_the_child_traceback(bench, tmp_path):
    args = argparse.Namespace(config=str(tmp_path / 'missing.py'), data_root=str(tmp_path),
                              steps=1, batch_size=2, device='cpu', seed=0)
    with pytest.raises(RuntimeError, match='missing.py'):
        bench.run_child(args, ['raw'])
