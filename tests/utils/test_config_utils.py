"""mmka.utils.config_utils.use_cheap_teachers: the teachers' precision, automatic or fixed."""
import pytest
from mmengine.config import Config

import mmka.utils.config_utils as config_utils
from mmka.utils import use_cheap_teachers


def amalgamator():
    return Config(dict(model=dict(type='KADETRAmalgamator', teachers=[])))


@pytest.mark.parametrize('native', [True, False])
def test_auto_takes_bf16_only_where_the_cpu_computes_it(monkeypatch, native):
    monkeypatch.setattr(config_utils, 'native_bf16', lambda: native)
    cfg = use_cheap_teachers(amalgamator())
    assert cfg.model.teacher_channels_last is True
    assert cfg.model.get('teacher_dtype') == ('bfloat16' if native else None)


@pytest.mark.parametrize('native', [True, False])
def test_a_fixed_precision_ignores_the_cpu(monkeypatch, native):
    """A record trained on one kind of CPU is keyed by its precision; the other kind must be
    able to build the same config."""
    monkeypatch.setattr(config_utils, 'native_bf16', lambda: native)
    assert use_cheap_teachers(amalgamator(), 'bfloat16').model.teacher_dtype == 'bfloat16'
    assert 'teacher_dtype' not in use_cheap_teachers(amalgamator(), 'float32').model


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="teacher_dtype must be one of .* got 'fp16'"):
        use_cheap_teachers(amalgamator(), 'fp16')
