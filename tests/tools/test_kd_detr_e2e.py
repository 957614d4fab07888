"""KD-DETR through the Runner on the embedded data: DETR, Conditional DETR, DAB-DETR, DINO."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from ..conftest import REPO, load_tool, tiny_run_cfg
from ..models.amalgamators.kd_setup import FAMILIES, save_model, tiny_cfg, tiny_dino

KD_CONFIGS = {f: osp.join(REPO, f'configs/kd/shapes_{f.replace("_", "-")}.py') for f in FAMILIES}


@pytest.fixture(scope='module')
def kd_teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('kd_e2e_teachers')
    return {f: save_model(root / f'{f}.pth', tiny_cfg(f, enc_layers=2, dec_layers=3), seed=3)
            for f in FAMILIES}


def kd_cfg(family, shapes_root, work_dir, teacher, student=None, config=None):
    """The family's KD config with tiny models: 2 training iterations, then validation."""
    cfg = tiny_run_cfg(config or KD_CONFIGS[family], shapes_root, str(work_dir), epochs=1,
                       batch_size=4)
    cfg.model.student = student or tiny_cfg(family)
    cfg.model.teacher = teacher
    cfg.model.points = dict(num_general=10)
    cfg.train_dataloader.dataset.indices = 8
    cfg.param_scheduler = []
    return cfg


@pytest.mark.parametrize('family', FAMILIES)
def test_kd_trains_and_validates(family, shapes_root, kd_teachers, tmp_path):
    cfg = kd_cfg(family, shapes_root, tmp_path, kd_teachers[family])
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    for key in ('loss', 'loss_kd_cls', 'loss_kd_bbox', 'loss_kd_iou', 'd0.loss_kd_cls',
                'gt.loss_cls'):
        history = hub.get_scalar(f'train/{key}').data[0]
        assert len(history) == 2 and np.isfinite(history).all(), key
    assert 0.0 <= hub.get_scalar('val/coco/bbox_mAP_50').current() <= 1.0
    state = torch.load(str(tmp_path / 'epoch_1.pth'), map_location='cpu')['state_dict']
    assert state and all(k.startswith('student.') for k in state)


def test_kd_dino_trains_and_validates(shapes_root, tmp_path):
    """configs/kd/shapes_dino.py with tiny DINOs: the student keeps its denoising and
    encoder losses, and learns from the teacher's reference boxes."""
    teacher = save_model(tmp_path / 'dino.pth', tiny_dino(enc_layers=2, dec_layers=3), seed=3)
    cfg = kd_cfg('dino', shapes_root, tmp_path / 'kd', teacher, student=tiny_dino(),
                 config=osp.join(REPO, 'configs/kd/shapes_dino.py'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    for key in ('loss', 'loss_kd_cls', 'loss_kd_bbox', 'loss_kd_iou', 'd0.loss_kd_cls',
                'gt.loss_cls', 'gt.enc_loss_cls', 'gt.dn_loss_cls'):
        history = hub.get_scalar(f'train/{key}').data[0]
        assert len(history) == 2 and np.isfinite(history).all(), key
    assert 0.0 <= hub.get_scalar('val/coco/bbox_mAP_50').current() <= 1.0
    state = torch.load(str(tmp_path / 'kd' / 'epoch_1.pth'), map_location='cpu')['state_dict']
    assert state and all(k.startswith('student.') for k in state)


def test_kd_checkpoint_tests_and_extracts(shapes_root, kd_teachers, tmp_path):
    family = 'conditional_detr'
    cfg = kd_cfg(family, shapes_root, tmp_path / 'kd', kd_teachers[family])
    Runner.from_cfg(cfg).train()
    cfg_file = str(tmp_path / 'kd_cfg.py')
    cfg.dump(cfg_file)
    ckpt = str(tmp_path / 'kd' / 'epoch_1.pth')
    test = load_tool('test')
    metrics = test.main([cfg_file, ckpt, '--work-dir', str(tmp_path / 'eval')])
    extract = load_tool('model_converters/extract_student')
    student_ckpt, student_cfg = extract.extract(cfg_file, ckpt, str(tmp_path / 'student'))
    assert test.main([student_cfg, student_ckpt, '--work-dir', str(tmp_path / 'e2')]) == metrics
