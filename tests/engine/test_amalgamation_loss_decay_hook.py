from types import SimpleNamespace

import pytest
import torch.nn as nn

from mmka.engine import AmalgamationLossDecayHook


class _Amalgamator(nn.Module):
    amalgamation_scale = 1.0


@pytest.mark.parametrize('end_factor', [0.0, 0.25])
def test_scale_decays_linearly(end_factor):
    hook = AmalgamationLossDecayHook(end_factor=end_factor)
    model = _Amalgamator()
    scales = []
    for it in range(0, 101, 25):
        hook.before_train_iter(SimpleNamespace(model=model, iter=it, max_iters=100), 0)
        scales.append(model.amalgamation_scale)
    expected = [1 - (1 - end_factor) * p for p in (0, .25, .5, .75, 1)]
    assert scales == pytest.approx(expected)


def test_bad_values():
    with pytest.raises(ValueError, match='1.5'):
        AmalgamationLossDecayHook(end_factor=1.5)
    with pytest.raises(TypeError, match='Linear'):
        AmalgamationLossDecayHook().before_train_iter(
            SimpleNamespace(model=nn.Linear(1, 1), iter=0, max_iters=10), 0)
