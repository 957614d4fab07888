"""The headline path on CPU with the real VOC configs, only shrunk through --cfg-options.

A tiny VOC tree -> tools/dataset_converters/prepare_voc.py -> both VOC teachers
(tools/train.py on configs/teachers/detr-prenorm_..._voc0712-t{1,2}of2.py) ->
``tools/dist_train.sh configs/ka/voc_2t.py 2`` -> tools/test.py -> extract_student.py ->
mmdet's own tools/test.py (shipped in the mmdet package) on the extracted student.
"""
import glob
import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from PIL import Image

from ..conftest import REPO, load_tool
from .test_prepare_voc import write_xml

TEACHERS = [f'configs/teachers/detr-prenorm_r50_4xb8-200e_voc0712-t{t}of2.py' for t in (1, 2)]
KA = 'configs/ka/voc_2t.py'
MMDET_TEST = osp.join(osp.dirname(importlib.util.find_spec('mmdet').origin), '.mim/tools/test.py')
# The paper's pre-norm DETR R50 shrunk to a few thousand parameters (keys under `model.`).
TINY_MODEL = {
    'backbone.depth': '18', 'backbone.base_channels': '8', 'backbone.init_cfg': 'None',
    'neck.in_channels': '[64]', 'neck.out_channels': '32', 'num_queries': '10',
    'test_cfg.max_per_img': '10',
    'encoder.num_layers': '1', 'decoder.num_layers': '1',
    'positional_encoding.num_feats': '16', 'bbox_head.embed_dims': '32',
    **{f'{part}.layer_cfg.{attn}.embed_dims': '32' for part, attn in (
        ('encoder', 'self_attn_cfg'), ('encoder', 'ffn_cfg'), ('decoder', 'self_attn_cfg'),
        ('decoder', 'cross_attn_cfg'), ('decoder', 'ffn_cfg'))},
    'encoder.layer_cfg.ffn_cfg.feedforward_channels': '64',
    'decoder.layer_cfg.ffn_cfg.feedforward_channels': '64',
}
# Images with objects of both 2-teacher partitions (T1: aeroplane..cow, T2: diningtable..).
OBJECTS = [[('car', (10, 12, 60, 50)), ('dog', (40, 30, 90, 70))],
           [('bird', (5, 5, 40, 40)), ('person', (30, 10, 80, 70))],
           [('chair', (20, 20, 70, 60)), ('tvmonitor', (50, 5, 90, 45))]]


def make_voc(root):
    """VOC2007 with 6 trainval and 2 test images (solid colours: only the plumbing is tested)."""
    voc = root / 'VOCdevkit' / 'VOC2007'
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        (voc / sub).mkdir(parents=True)
    ids = {'trainval': [f'{i:06d}' for i in range(6)], 'test': ['000100', '000101']}
    for split, names in ids.items():
        (voc / 'ImageSets/Main' / f'{split}.txt').write_text(''.join(f'{n}\n' for n in names))
        for k, name in enumerate(names):
            Image.new('RGB', (96, 80), (40 * k, 120, 200)).save(voc / 'JPEGImages' / f'{name}.jpg')
            objects = [(c, box, 0) for c, box in OBJECTS[k % len(OBJECTS)]]
            write_xml(voc / 'Annotations' / f'{name}.xml', (96, 80), objects)
    return str(root / 'VOCdevkit') + '/'


def run_options(data_root: str, prefix: str = 'model.') -> list:
    """--cfg-options: the tiny model, one epoch on the tiny data in-process, float32."""
    options = [f'{prefix}{k}={v}' for k, v in TINY_MODEL.items()]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False', f'{loader}.batch_size=2']
    for evaluator in ('val_evaluator', 'test_evaluator'):
        options.append(f'{evaluator}.ann_file={data_root}annotations/voc07_test.json')
    return options + ['train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1',
                      'load_from=None']


def run(cmd, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PORT='29631')
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900, **kwargs)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_voc_headline_path(tmp_path):
    data_root = make_voc(tmp_path)
    load_tool('dataset_converters/prepare_voc').main([data_root])
    assert osp.isfile(f'{data_root}annotations/voc0712_trainval.json')

    train = load_tool('train')
    teachers = []
    for t, config in enumerate(TEACHERS):
        work_dir = str(tmp_path / f'teacher{t}')
        train.main([osp.join(REPO, config), '--work-dir', work_dir, '--no-amp',
                    '--cfg-options', *run_options(data_root)])
        # tools/train.py dumps the config it ran, --cfg-options included: the teacher's.
        teachers.append((osp.join(work_dir, osp.basename(config)),
                         osp.join(work_dir, 'epoch_1.pth')))

    ka_dir = tmp_path / 'ka'
    teacher_options = [f'model.teachers.{t}.{k}={v}' for t, (cfg, ckpt) in enumerate(teachers)
                       for k, v in (('config', cfg), ('checkpoint', ckpt))]
    run(['bash', 'tools/dist_train.sh', KA, '2', '--work-dir', str(ka_dir), '--no-amp',
         '--cfg-options', *run_options(data_root, 'model.student.'), *teacher_options])
    log = ''.join(open(p).read() for p in glob.glob(str(ka_dir / '*' / '*.log')))
    assert 'GPU number: 2' in log and 'loss_sa_enc0' in log and 'loss_ta_cls' in log
    ka_cfg, ka_ckpt = str(ka_dir / 'voc_2t.py'), str(ka_dir / 'epoch_1.pth')
    assert osp.isfile(ka_ckpt)

    metrics = load_tool('test').main([ka_cfg, ka_ckpt, '--work-dir', str(tmp_path / 'eval')])
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0

    extract = load_tool('model_converters/extract_student')
    student_ckpt, student_cfg = extract.extract(ka_cfg, ka_ckpt, str(tmp_path / 'student'))
    out = run([sys.executable, MMDET_TEST, student_cfg, student_ckpt, '--work-dir',
               str(tmp_path / 'mmdet_eval')])
    # mmdet's tool prints the same COCO metrics as ours for the extracted student.
    copypaste = re.findall(r'bbox_mAP_copypaste: ([\d.\- ]+)', out)[-1].split()
    assert float(copypaste[0]) == pytest.approx(metrics['coco/bbox_mAP'], abs=1e-3)
    assert float(copypaste[1]) == pytest.approx(metrics['coco/bbox_mAP_50'], abs=1e-3)
