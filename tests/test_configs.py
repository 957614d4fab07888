"""Every user-facing config under configs/ loads and its model builds."""
import glob
import re
import os.path as osp

import pytest
from mmengine.config import Config

from mmdet.registry import MODELS
from mmka.datasets import DATASET_CLASSES, PARTITIONS, check_partition
from mmka.models.layers import check_point_compatible

from .conftest import REPO

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


def test_configs_are_found():
    assert len(CONFIGS) >= 17


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_loads_and_model_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet'
    assert 'mmka' in cfg.custom_imports['imports']
    if cfg.model.type == 'TeacherEnsemble':
        for teacher in cfg.model.teachers:
            assert osp.isfile(osp.join(REPO, teacher['config']))
        return
    if cfg.model.type == 'KADETRAmalgamator':
        # Teacher checkpoints are trained by the user; check what can be checked without
        # them (the amalgamator itself is built from tiny teachers in tests/models).
        _check_amalgamation_config(cfg)
        return
    if cfg.model.type == 'KDDETRDistiller':
        _check_distillation_config(cfg)
        return
    model = MODELS.build(cfg.model)
    classes = cfg.train_dataloader.dataset.get('metainfo', {}).get('classes')
    if classes is not None:
        assert model.bbox_head.num_classes == len(classes)


@pytest.mark.parametrize('path', [p for p in CONFIGS if re.search(r'-t\d+of\d+', p)],
                         ids=lambda p: osp.basename(p))
def test_teacher_config_classes_match_partition(path):
    """`...-t2of4.py` trains on group 2 of the dataset's 4-teacher partition."""
    name = osp.splitext(osp.basename(path))[0]
    dataset = name.split('_')[-1].split('-')[0].replace('0712', '')
    t, n = name.rsplit('-t', 1)[1].split('of')
    cfg = Config.fromfile(path)
    expected = PARTITIONS[f'{dataset}_{n}t'][int(t) - 1]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert tuple(cfg[loader].dataset.metainfo['classes']) == expected
    assert set(expected) <= set(DATASET_CLASSES[dataset])


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'shapes' in osp.basename(p)],
                         ids=lambda p: osp.basename(p))
def test_embedded_config_datasets_build(path, shapes_root):
    """The embedded configs' datasets load the generated data with the right classes."""
    from mmdet.registry import DATASETS
    from mmka.utils import set_data_root
    cfg = set_data_root(Config.fromfile(path), shapes_root)
    for loader in ('train_dataloader', 'val_dataloader'):
        dataset = DATASETS.build(cfg[loader].dataset)
        assert len(dataset) > 0
        classes = cfg.model.get('classes') or [None] * cfg.model.bbox_head.num_classes
        assert len(dataset.metainfo['classes']) == len(classes)


def _check_amalgamation_config(cfg):
    student = MODELS.build(cfg.model.student)
    teachers = cfg.model.teachers
    # Extended students have one segment per teacher; SAG uses a plain student.
    assert getattr(student, 'num_teachers', len(teachers)) == len(teachers)
    assert student.bbox_head.num_classes == len(cfg.model.classes)
    groups = []
    for teacher in teachers:
        teacher_cfg = Config.fromfile(osp.join(REPO, teacher['config']))
        groups.append(teacher_cfg.train_dataloader.dataset.metainfo['classes'])
        assert teacher_cfg.model.bbox_head.num_classes == len(groups[-1])
        assert teacher_cfg.model.neck.out_channels == cfg.model.student.neck.out_channels
        assert teacher_cfg.model.encoder.num_layers == cfg.model.student.encoder.num_layers
    check_partition(groups, cfg.model.classes)
    assert set(c for g in groups for c in g) == set(cfg.model.classes)


def _check_distillation_config(cfg):
    """KD-DETR: the teacher (built from its config, untrained) suits the student."""
    student = MODELS.build(cfg.model.student)
    teacher_cfg = cfg.model.teacher['config']
    if isinstance(teacher_cfg, str):
        assert osp.isfile(osp.join(REPO, teacher_cfg)), teacher_cfg
        teacher_cfg = Config.fromfile(osp.join(REPO, teacher_cfg))
        assert tuple(teacher_cfg.train_dataloader.dataset.metainfo.classes) == \
            tuple(cfg.model.classes)
    teacher = MODELS.build(teacher_cfg['model'])
    check_point_compatible(teacher, student)
    assert teacher.bbox_head.num_classes == student.bbox_head.num_classes == \
        len(cfg.model.classes)


def test_voc_and_coco_follow_the_papers_recipe():
    """Pre-norm DETR (UP-DETR's layout); VOC 200 epochs with the step at 150, test at short
    side 300 / max 512; teachers start from the converted UP-DETR weights."""
    voc = Config.fromfile(osp.join(REPO, 'configs/ka/voc_2t.py'))
    assert voc.model.student.type == 'KAPreNormDETRStudent'
    assert voc.train_cfg.max_epochs == 200
    assert [s.milestones for s in voc.param_scheduler if s.type == 'MultiStepLR'] == [[150]]
    resize = [t for t in voc.test_pipeline if t.type == 'Resize'][0]
    assert tuple(resize.scale) == (512, 300)
    coco = Config.fromfile(osp.join(REPO, 'configs/ka/coco_2t.py'))
    assert coco.model.student.type == 'KAPreNormDETRStudent' and coco.train_cfg.max_epochs == 60
    for ka in (voc, coco):
        for teacher in ka.model.teachers:
            cfg = Config.fromfile(osp.join(REPO, teacher['config']))
            assert cfg.model.type == 'PreNormDETR' and cfg.model.backbone.init_cfg is None
            assert cfg.load_from == 'checkpoints/up-detr-pre-training-60ep-imagenet_mmdet.pth'
            assert teacher['checkpoint'].endswith(f'epoch_{cfg.train_cfg.max_epochs}.pth')
    # Student from scratch (the main rows); Student_UP from the teachers' start.
    assert voc.model.get('student_checkpoint') is None and voc.get('load_from') is None
    up = Config.fromfile(osp.join(REPO, 'configs/ka/voc_2t-up.py'))
    assert up.model.student_checkpoint == teacher_cfg_start(voc)
    assert up.model.student == voc.model.student and up.model.hooks == voc.model.hooks


def teacher_cfg_start(ka: Config) -> str:
    """The checkpoint the teachers of an amalgamation config fine-tune from (all alike)."""
    starts = {Config.fromfile(osp.join(REPO, t['config'])).load_from for t in ka.model.teachers}
    assert len(starts) == 1, starts
    return starts.pop()


def test_every_layer_ta_at_total_weight_1_splits_the_last_layer_weight():
    """The diagnostic row differs from TA on every layer only in its TA weight, 1 / L per
    decoder layer, so its L layers together weigh what the paper recipe's last layer does."""
    every = Config.fromfile(osp.join(REPO, 'configs/ka/shapes_2t_dino-ta-all-layers.py'))
    split = Config.fromfile(
        osp.join(REPO, 'configs/ka/shapes_2t_dino-ta-all-layers-total-weight-1.py'))
    paper = Config.fromfile(osp.join(REPO, 'configs/ka/shapes_2t_dino.py'))
    ta = {name: [h for h in cfg.model.hooks if h.type == 'TaskAmalgamation'][0]
          for name, cfg in (('every', every), ('split', split), ('paper', paper))}
    layers = split.model.student.decoder.num_layers
    assert layers == 3  # the tiny DINO: a weight of 1/3 per layer
    assert ta['split'].aux_layers and ta['every'].aux_layers
    assert ta['split'].loss_weight * layers == pytest.approx(ta['paper'].loss_weight)
    assert ta['every'].loss_weight == ta['paper'].loss_weight
    assert {**ta['split'], 'loss_weight': None} == {**ta['every'], 'loss_weight': None}
    assert split.model.student == every.model.student
    assert split.model.gt_loss_weight == every.model.gt_loss_weight
