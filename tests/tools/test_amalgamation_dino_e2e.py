"""End-to-end amalgamation of 2 tiny DINO teachers through the Runner and the tools; every
DINO config of the Table I reproduction builds and takes a loss step with tiny models."""
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdet.registry import MODELS
from ..conftest import REPO, load_tool, tiny_run_cfg
from ..models.amalgamators.tiny_setup import T1, T2
from ..models.detectors.dino_setup import batch, save_dino_teacher, tiny_dino_ka_model

KA_DINO = osp.join(REPO, 'configs/ka/shapes_2t_dino.py')


@pytest.fixture(scope='module')
def dino_teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('dino_teachers')
    return [save_dino_teacher(root / 't1.pth', T1, seed=1),
            save_dino_teacher(root / 't2.pth', T2, seed=2)]


def dino_ka_cfg(shapes_root, work_dir, teachers, config=KA_DINO, epochs=1, **model):
    cfg = tiny_run_cfg(config, shapes_root, str(work_dir), epochs=epochs, batch_size=4)
    cfg.model = tiny_dino_ka_model(cfg.model, teachers)
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


# The DINO rows of benchmarks/reproduce_table1.py beyond Student / Student_slim / SA / TA:
# each config's model is shapes_2t_dino.py's but for the change below (model -> None), and
# one step of it with tiny models gives these loss keys (at least; label-free: exactly).
SA = {'loss_sa_proj', 'loss_sa_enc0'}
TA = {'loss_ta_cls', 'loss_ta_bbox', 'loss_ta_iou'}
ENC_TA = {f'enc_{key}' for key in TA}
DN = ('dn_loss_cls', 'dn_loss_bbox', 'dn_loss_iou')
GT = {'gt.loss_cls', 'gt.enc_loss_cls', 'gt.dn_loss_cls', 'gt.d0.loss_cls'}
RAW_DINO = 'configs/baselines/dino_r18tiny_1xb16-12e_shapes.py'
CODE_RECIPE = Config.fromfile(osp.join(REPO, 'configs/_base_/ka/code-recipe.py'))


def _compression(**kwargs):
    def change(model):
        model['student']['compression'] = dict(attention='full', **kwargs)
    return change


DINO_ROWS = {
    'sag': (lambda m: m.update(
        student=Config.fromfile(osp.join(REPO, RAW_DINO)).model.to_dict(),
        hooks=[dict(type='SequenceAggregation', loss_weight=1.0), m['hooks'][1]]),
            {'loss_sag_proj', 'loss_sag_enc0'} | TA | GT),
    'labelfree': (lambda m: m.update(gt_loss_weight=0.0), SA | TA),
    'ta-labelfree': (lambda m: m.update(gt_loss_weight=0.0, hooks=m['hooks'][1:]), TA),
    'labelfree-proposals': (lambda m: (m.update(gt_loss_weight=0.0),
                                       m['hooks'][1].update(proposals=True)), SA | TA | ENC_TA),
    'labelfree-proposals-all-layers': (
        lambda m: (m.update(gt_loss_weight=0.0),
                   m['hooks'][1].update(proposals=True, aux_layers=True)),
        SA | TA | ENC_TA | {f'd0.{key}' for key in TA}),  # the tiny student: 2 layers
    'labelfree-proposals-all-layers-conf05': (
        lambda m: (m.update(gt_loss_weight=0.0),
                   m['hooks'][1].update(proposals=True, aux_layers=True),
                   m['hooks'][1]['targets'].update(score_thr=0.5)),
        SA | TA | ENC_TA | {f'd0.{key}' for key in TA}),
    'labelfree-proposals-all-layers-conf05-dn': (
        lambda m: (m.update(gt_loss_weight=0.1, gt_losses=DN,
                            pseudo_labels=dict(score_thr=0.5, max_targets=50)),
                   m['hooks'][1].update(proposals=True, aux_layers=True),
                   m['hooks'][1]['targets'].update(score_thr=0.5)),
        SA | TA | ENC_TA | {f'd0.{key}' for key in TA} |
        {f'pseudo.{layer}{key}' for layer in ('', 'd0.') for key in DN}),
    'labelfree-proposals-all-layers-conf05-dn-prob-unweighted': (
        lambda m: (m.update(gt_loss_weight=0.1, gt_losses=DN,
                            pseudo_labels=dict(score_thr=0.5, max_targets=50)),
                   m['hooks'][1].update(proposals=True, aux_layers=True, match_cost='prob',
                                        loss=dict(type='TaskAmalgamationLoss',
                                                  conf_weighting=False)),
                   m['hooks'][1]['targets'].update(score_thr=0.5)),
        SA | TA | ENC_TA | {f'd0.{key}' for key in TA} |
        {f'pseudo.{layer}{key}' for layer in ('', 'd0.') for key in DN}),
    # The row above with TA's class term DINO's focal loss, unmatched queries at full weight.
    'labelfree-proposals-all-layers-conf05-dn-prob-unweighted-focal': (
        lambda m: (DINO_ROWS['labelfree-proposals-all-layers-conf05-dn-prob-unweighted'][0](m),
                   m['hooks'][1]['loss'].update(
                       bg_weight=1.0, cls_loss=dict(type='FocalLoss', use_sigmoid=True,
                                                    gamma=2.0, alpha=0.25, loss_weight=1.0))),
        SA | TA | ENC_TA | {f'd0.{key}' for key in TA} |
        {f'pseudo.{layer}{key}' for layer in ('', 'd0.') for key in DN}),
    # The focal row with unmatched queries back at eq. 11's background weight.
    'labelfree-proposals-all-layers-conf05-dn-prob-unweighted-focal-bg01': (
        lambda m: (
            DINO_ROWS['labelfree-proposals-all-layers-conf05-dn-prob-unweighted-focal'][0](m),
            m['hooks'][1]['loss'].update(bg_weight=0.1)),
        SA | TA | ENC_TA | {f'd0.{key}' for key in TA} |
        {f'pseudo.{layer}{key}' for layer in ('', 'd0.') for key in DN}),
    'labelfree-pseudo-labels': (
        lambda m: m.update(pseudo_labels=dict(score_thr=0.5, max_targets=50)),
        SA | TA | {f'pseudo.{layer}{part}{key}' for layer in ('', 'd0.')
                   for part in ('', 'dn_') for key in ('loss_cls', 'loss_bbox', 'loss_iou')}
        | {f'pseudo.enc_{key}' for key in ('loss_cls', 'loss_bbox', 'loss_iou')}),
    'slim-isometric': (_compression(strategy='isometric'), SA | TA | GT),
    'slim-random': (_compression(strategy='random'), SA | TA | GT),
    'slim-student-guide': (_compression(strategy='redundancy', train_guide='student'),
                           SA | TA | GT),
    'ta-all-layers': (lambda m: m['hooks'][1].update(aux_layers=True),
                      SA | TA | {'d0.loss_ta_cls'} | GT),
    'code-recipe': (lambda m: m.update(
        hooks=CODE_RECIPE.to_dict()['code_recipe_hooks'],
        gt_loss_weight=CODE_RECIPE.code_recipe_gt_loss_weight),
                    SA | TA | {'d0.loss_ta_cls'} | GT),
    'ta-points': (lambda m: m.update(hooks=[m['hooks'][0], dict(
        type='PointTaskAmalgamation', loss_weight=1.0,
        points=dict(num_general=30, specific=True, box_sizes=(1 / 32, 1.0)),
        loss=dict(type='KDDETRLoss', temperature=10.0, cls_weight=1.0, l1_weight=5.0,
                  giou_weight=2.0, aux_layers=True))]),
                  SA | {'loss_ta_pts_cls', 'loss_ta_pts_bbox', 'loss_ta_pts_iou',
                        'd0.loss_ta_pts_cls'} | GT),
}


@pytest.mark.parametrize('row', sorted(DINO_ROWS))
def test_dino_table1_row_config_builds_and_takes_a_loss_step(row, dino_teachers):
    cfg = Config.fromfile(osp.join(REPO, f'configs/ka/shapes_2t_dino-{row}.py'))
    base = Config.fromfile(KA_DINO)
    change, keys = DINO_ROWS[row]
    expected = base.model.to_dict()
    change(expected)
    assert cfg.model.to_dict() == expected
    # Data, schedule and runtime are the DINO Student's; label-free keeps empty images, the
    # code recipe decays the SA / TA weights.
    for key in ('train_cfg', 'param_scheduler', 'optim_wrapper', 'val_dataloader'):
        assert cfg[key] == base[key], key
    # Label-free: no annotation read (λ_d = 0, or L_d on the teachers' pseudo-labels).
    label_free = cfg.model.gt_loss_weight == 0 or 'pseudo_labels' in cfg.model
    assert cfg.train_dataloader.dataset.filter_cfg.filter_empty_gt is not label_free
    decay = [h for h in cfg.get('custom_hooks', []) if h.type == 'AmalgamationLossDecayHook']
    assert decay == ([dict(type='AmalgamationLossDecayHook', end_factor=0.0)]
                     if row == 'code-recipe' else [])
    # One training step with tiny models, the config's hooks and weights.
    torch.manual_seed(0)
    model = MODELS.build(tiny_dino_ka_model(cfg.model, dino_teachers)).train()
    model.init_weights()
    imgs, samples = batch(padded=True, num_classes=len(cfg.model.classes))
    if label_free:  # no annotation is read (DINO's denoising queries are made from them)
        for s in samples:
            del s.gt_instances
    losses = model.loss(imgs, samples)
    assert keys <= set(losses), sorted(keys - set(losses))
    if label_free:  # no ground-truth term of any kind
        assert set(losses) == keys and not any(k.startswith('gt.') for k in losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.student.backbone.conv1.weight.grad.abs().sum() > 0
    compressor = getattr(model.student, 'compressor', None)
    if compressor is not None and compressor.enabled:  # one segment kept per position
        kept = model.student.last_kept_indices
        n = kept.size(1)
        assert (kept % n == torch.arange(n)).all() and set((kept // n).unique().tolist()) == {0, 1}
        # P_slim on the teachers' projections in training, or the student's own.
        assert bool(model._guide_recorders) is (compressor.strategy == 'redundancy' and
                                                compressor.train_guide == 'teachers')
