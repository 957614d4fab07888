"""Which pipelines the teacher cache serves, as configs and as built transforms."""
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose

from mmka.models.teacher_cache import check_cacheable_pipeline, random_transforms

from ...conftest import SHAPES_BASELINE, REPO

VOC = f'{REPO}/configs/_base_/datasets/voc0712_coco-format.py'


def test_embedded_pipeline_is_deterministic_as_config_and_built():
    pipeline = Config.fromfile(SHAPES_BASELINE).train_pipeline
    assert random_transforms(pipeline) == []
    assert random_transforms(Compose(pipeline).transforms) == []
    check_cacheable_pipeline(pipeline)


def test_random_flip_and_resize_need_per_outcome_mode():
    flip = [dict(type='LoadImageFromFile'), dict(type='RandomFlip', prob=0.5),
            dict(type='RandomResize', scale=(64, 64), ratio_range=(0.5, 2.0))]
    with pytest.raises(ValueError, match=r"\['RandomFlip', 'RandomResize'\].*per_outcome"):
        check_cacheable_pipeline(flip)
    check_cacheable_pipeline(flip, mode='per_outcome')
    assert random_transforms([dict(type='RandomFlip', prob=0.0)]) == []  # never flips


def test_unkeyed_random_transforms_are_refused_in_every_mode():
    voc = Config.fromfile(VOC).train_pipeline  # flip, RandomChoice of resizes and crops
    for mode in ('deterministic', 'per_outcome'):
        bad = random_transforms(voc, mode)
        assert 'RandomChoice' in bad and 'RandomCrop' in bad
        with pytest.raises(ValueError, match='RandomCrop'):
            check_cacheable_pipeline(voc, mode)
    assert random_transforms([dict(type='PhotoMetricDistortion')], 'per_outcome') == [
        'PhotoMetricDistortion']
    with pytest.raises(ValueError, match='Unknown teacher cache mode'):
        random_transforms([], 'always')
