"""TeacherCacheHook: finds the pipelines behind dataset wrappers; leaves cache-less models."""
from types import SimpleNamespace

import pytest

from mmka.engine import TeacherCacheHook
from mmka.engine.teacher_cache_hook import _pipelines

FLIP = [dict(type='RandomFlip', prob=0.5)]
PLAIN = [dict(type='LoadImageFromFile')]


class FakeCache:
    def __init__(self):
        self.checked = []
        self.dir, self.mode, self.dtype = 'cache', 'deterministic', 'float16'

    def check_pipeline(self, transforms):
        self.checked.append(transforms)


def runner_with(dataset, model):
    logs = []
    return SimpleNamespace(model=model, train_dataloader=SimpleNamespace(dataset=dataset),
                           logger=SimpleNamespace(info=logs.append), logs=logs)


def test_checks_every_wrapped_pipeline():
    repeat = SimpleNamespace(dataset=SimpleNamespace(pipeline=SimpleNamespace(transforms=FLIP)))
    concat = SimpleNamespace(datasets=[repeat, SimpleNamespace(pipeline=PLAIN)])
    assert _pipelines(concat) == [FLIP, PLAIN]
    cache = FakeCache()
    runner = runner_with(concat, SimpleNamespace(teacher_cache=cache))
    TeacherCacheHook().before_train(runner)
    assert cache.checked == [FLIP, PLAIN] and 'cacheable' in runner.logs[0]
    with pytest.raises(ValueError, match='Cannot find the pipeline of SimpleNamespace'):
        _pipelines(SimpleNamespace())


def test_models_without_cache_are_left_alone():
    runner = runner_with(SimpleNamespace(), SimpleNamespace(teacher_cache=None))
    TeacherCacheHook().before_train(runner)
    TeacherCacheHook().after_train_epoch(runner)
    assert runner.logs == []
