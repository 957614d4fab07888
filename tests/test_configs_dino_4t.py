"""The tiny DINO configs for 4 teachers (paper Table IV with DINO): teachers on the shapes_4t
partition, a 4-segment KA student, its slim variant and the Ensemble of the same teachers.

tests/test_configs.py loads and builds them too, with every config; here: what makes them the
4-teacher versions of the 2-teacher DINO configs."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet.registry import DATASETS, MODELS
from mmka.datasets import SHAPE_CLASSES, get_partition
from mmka.utils import set_data_root
from mmka.utils.complexity import model_complexity

from .conftest import REPO
from .test_configs import _check_amalgamation_config

TEACHERS = [f'configs/teachers/dino_r18tiny_1xb16-12e_shapes-t{t}of4.py' for t in range(1, 5)]
KA = 'configs/ka/shapes_4t_dino.py'


def load(path: str) -> Config:
    return Config.fromfile(osp.join(REPO, path))


@pytest.mark.parametrize('t', range(1, 5))
def test_dino_teacher_learns_its_shapes_4t_group(t, shapes_root):
    cfg = load(TEACHERS[t - 1])
    classes = get_partition('shapes_4t')[t - 1]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert tuple(cfg[loader].dataset.metainfo.classes) == classes
    # The 2-teacher DINO teachers' network and schedule; only the classes differ.
    two = load('configs/teachers/dino_r18tiny_1xb16-12e_shapes-t1of2.py')
    two.model.bbox_head.num_classes = len(classes)
    assert cfg.model == two.model and cfg.train_cfg == two.train_cfg
    assert cfg.optim_wrapper == two.optim_wrapper and cfg.param_scheduler == two.param_scheduler
    assert MODELS.build(cfg.model).bbox_head.num_classes == len(classes)
    dataset = DATASETS.build(set_data_root(cfg, shapes_root).train_dataloader.dataset)
    assert 0 < len(dataset) and tuple(dataset.metainfo['classes']) == classes


def test_dino_4t_student_amalgamates_the_shapes_4t_teachers():
    cfg = load(KA)
    assert cfg.model.type == 'KADETRAmalgamator'
    assert cfg.model.student.type == 'KADINOStudent' and cfg.model.student.num_teachers == 4
    assert [t['config'] for t in cfg.model.teachers] == TEACHERS
    assert [t['checkpoint'] for t in cfg.model.teachers] == [
        f'work_dirs/dino_r18tiny_1xb16-12e_shapes-t{t}of4/epoch_12.pth' for t in range(1, 5)]
    groups = tuple(tuple(load(t['config']).train_dataloader.dataset.metainfo.classes)
                   for t in cfg.model.teachers)
    assert groups == get_partition('shapes_4t')
    _check_amalgamation_config(cfg)  # builds the student; disjoint groups covering all classes
    # The 2-teacher DINO recipe (SA + TA + GT, weights, schedule), only the teachers differ.
    two = load('configs/ka/shapes_2t_dino.py')
    assert cfg.model.hooks == two.model.hooks and cfg.model.classes == two.model.classes
    assert cfg.model.gt_loss_weight == two.model.gt_loss_weight
    assert cfg.train_cfg == two.train_cfg and cfg.param_scheduler == two.param_scheduler
    two.model.student.num_teachers = 4
    assert cfg.model.student == two.model.student


def test_dino_4t_slim_student_keeps_one_segment_of_tokens():
    cfg, full = load('configs/ka/shapes_4t_dino-slim.py'), load(KA)
    assert cfg.model.student.compression == dict(strategy='redundancy', attention='full')
    assert cfg.model.student.num_teachers == 4 and cfg.model.teachers == full.model.teachers
    # A forward of each 4-segment student (the slim one choosing P_slim on its own tokens):
    # compression cuts the sequence the decoder sees to 3 levels (fewer sampling offsets and
    # weights in its cross-attention), not the 4 projections.
    slim, ext = (MODELS.build(c.model.student) for c in (cfg, full))
    assert len(slim.neck) == len(ext.neck) == 4
    slim_info, ext_info = (model_complexity(m, (128, 128), torch.device('cpu'))
                           for m in (slim, ext))
    assert slim_info['params'] < ext_info['params'] and slim_info['flops'] < ext_info['flops']


def test_dino_4t_ensemble_runs_the_same_teachers():
    cfg = load('configs/ka/shapes_4t_dino-ensemble.py')
    assert cfg.model.type == 'TeacherEnsemble'
    assert cfg.model.teachers == load(KA).model.teachers
    assert tuple(cfg.model.classes) == tuple(SHAPE_CLASSES)
