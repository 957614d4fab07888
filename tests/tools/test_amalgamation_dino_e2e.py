"""End-to-end amalgamation of 2 tiny DINO teachers through the Runner and the tools."""
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.runner import Runner

from ..conftest import REPO, load_tool, tiny_run_cfg
from ..models.amalgamators.tiny_setup import T1, T2
from ..models.detectors.dino_setup import save_dino_teacher, tiny_dino_cfg

KA_DINO = osp.join(REPO, 'configs/ka/shapes_2t_dino.py')


@pytest.fixture(scope='module')
def dino_teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('dino_teachers')
    return [save_dino_teacher(root / 't1.pth', T1, seed=1),
            save_dino_teacher(root / 't2.pth', T2, seed=2)]


def dino_ka_cfg(shapes_root, work_dir, teachers, config=KA_DINO, epochs=1, **model):
    cfg = tiny_run_cfg(config, shapes_root, str(work_dir), epochs=epochs, batch_size=4)
    student = dict(tiny_dino_cfg(32, num_classes=20), type='KADINOStudent', num_teachers=2)
    if cfg.model.student.get('compression'):
        student['compression'] = cfg.model.student.compression
    cfg.model.student = student
    cfg.model.teachers = teachers
    for hook in cfg.model.hooks:  # random tiny teachers are never confident
        if hook['type'] == 'TaskAmalgamation':
            hook['targets'] = dict(hook['targets'], score_thr=0.0, max_targets=8)
    cfg.model.update(model)
    cfg.param_scheduler = []
    return cfg


def test_dino_amalgamation_trains_evaluates_and_extracts(shapes_root, dino_teachers, tmp_path):
    cfg = dino_ka_cfg(shapes_root, tmp_path / 'ka', dino_teachers, epochs=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    for key in ('loss', 'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls', 'gt.loss_cls',
                'gt.dn_loss_cls'):
        values = runner.message_hub.get_scalar(f'train/{key}').data[0]
        assert np.isfinite(values).all(), key
    ckpt = str(tmp_path / 'ka' / 'epoch_2.pth')
    cfg_file = str(tmp_path / 'ka_cfg.py')
    cfg.dump(cfg_file)
    test = load_tool('test')
    metrics = test.main([cfg_file, ckpt, '--work-dir', str(tmp_path / 'eval')])
    assert 0.0 <= metrics['coco/bbox_mAP_50'] <= 1.0
    extract = load_tool('model_converters/extract_student')
    student_ckpt, student_cfg = extract.extract(cfg_file, ckpt, str(tmp_path / 'student'))
    standalone = test.main([student_cfg, student_ckpt, '--work-dir', str(tmp_path / 'e2')])
    assert standalone == metrics  # the extracted student is the amalgamated one


def test_dino_slim_amalgamation_two_processes_gloo(shapes_root, dino_teachers, tmp_path):
    """tools/dist_train.sh with 2 gloo processes, a slim DINO student and a teacher cache."""
    cfg = dino_ka_cfg(shapes_root, tmp_path, dino_teachers,
                      config=osp.join(REPO, 'configs/ka/shapes_2t_dino-slim.py'),
                      teacher_cache=dict(dir=str(tmp_path / 'cache')))
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    env = dict(os.environ, PYTHON=sys.executable, PORT='29631', OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', osp.join(REPO, 'tools/dist_train.sh'), str(cfg_file), '2'],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    log = ''.join(open(p).read() for p in glob.glob(str(tmp_path / '*' / '*.log')))
    assert 'GPU number: 2' in log and 'loss_sa_enc0' in log and 'loss_ta_cls' in log
    assert glob.glob(str(tmp_path / 'cache/teacher1/*/*.bin'))
