"""KA with multi-scale teachers and students (DINO): SA over every level, TA without the
denoising queries, SAG, the Ensemble, compression guided by the teachers, label-free."""
import copy

import pytest
import torch

from mmdet.registry import MODELS
from mmka.models.amalgamation_hooks.sequence_utils import neck_shapes, valid_token_mask
from mmka.models.amalgamators.base_distiller import run_detector
from mmka.models.task_modules import targets_as_samples

from ..detectors.dino_setup import batch, save_dino_teacher, tiny_dino_cfg
from ..detectors.test_ka_multiscale_student import PLAIN
from .tiny_setup import CLASSES, T1, T2, save_teacher

DIMS = 32


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('dino_teachers')
    return [save_dino_teacher(root / 't1.pth', T1, 1), save_dino_teacher(root / 't2.pth', T2, 2)]


def _student(**kwargs):
    return dict(tiny_dino_cfg(DIMS, num_classes=len(CLASSES)), type='KADINOStudent',
                num_teachers=2, **kwargs)


def build(teachers, hooks, student=None, **kwargs):
    model = MODELS.build(dict(type='KADETRAmalgamator', student=student or _student(),
                              teachers=teachers, classes=CLASSES, hooks=hooks, **kwargs))
    model.init_weights()
    return model.train()


def _batch():
    return batch(padded=True, num_classes=len(CLASSES))


def test_sa_and_ta_train_a_dino_student(teachers):
    model = build(teachers, [dict(type='SequenceAmalgamation'),
                             dict(type='TaskAmalgamation', targets=dict(score_thr=0.0))])
    losses = model.loss(*_batch())
    assert {'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls', 'loss_ta_bbox', 'loss_ta_iou',
            'gt.loss_cls', 'gt.enc_loss_cls', 'gt.dn_loss_cls'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.student.neck[1].convs[0].conv.weight.grad.abs().sum() > 0
    assert model.student.neck[1].extra_convs[0].conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teachers.parameters())


def test_sa_is_zero_when_each_segment_is_its_teacher(teachers):
    """Student segment t = teacher t's projection and encoder: every SA term vanishes, on
    every level, padding included."""
    model = build(teachers, [dict(type='SequenceAmalgamation')], gt_loss_weight=0.0)
    t1, t2 = (t.state_dict() for t in model.teacher_list)
    state = model.student.state_dict()
    for key in t1:
        if key.startswith('neck.'):
            state[key.replace('neck.', 'neck.0.', 1)] = t1[key]
            state[key.replace('neck.', 'neck.1.', 1)] = t2[key]
        elif key.startswith(('backbone.', 'encoder.', 'level_embed', 'positional')):
            state[key] = t1[key]
    # Same backbone and encoder in both teachers, so that each segment can equal its teacher.
    model.teacher_list[1].load_state_dict({**t2, **{k: v for k, v in t1.items()
                                                    if k.startswith(('backbone.', 'encoder.',
                                                                     'level_embed'))}})
    model.student.load_state_dict(state)
    model.student.eval()  # BatchNorm in eval mode, as in the teachers
    losses = model.loss(*_batch())
    for key, value in losses.items():
        assert value.abs() < 1e-10, key


def test_valid_token_mask_matches_mmdet_padding_on_every_level(teachers):
    model = build(teachers, [dict(type='SequenceAmalgamation')])
    student = model.student
    imgs, samples = _batch()
    feats = student.extract_feat(imgs)
    enc_in, _ = student.pre_transformer(feats, samples)
    levels = student.num_feature_levels
    shapes = neck_shapes(feats[:levels], levels)
    valid = valid_token_mask(samples, shapes, imgs.device)
    n = valid.size(1)
    assert enc_in['feat_mask'] is not None
    torch.testing.assert_close(valid, ~enc_in['feat_mask'][:, :n])
    assert not valid[1].all() and valid[0].all()


def test_ta_leaves_out_the_denoising_queries(teachers):
    model = build(teachers, [dict(type='TaskAmalgamation', targets=dict(score_thr=0.0))])
    hook = model.hooks[0]
    seen = []
    criterion = hook.criterion.forward
    hook.criterion.forward = lambda cls, boxes, *a: seen.append(cls.shape) or criterion(
        cls, boxes, *a)
    model.loss(*_batch())
    assert seen == [torch.Size([2, model.student.num_queries, len(CLASSES)])]


def test_ta_on_every_layer_leaves_out_the_denoising_queries(teachers):
    """aux_layers=True: each decoder layer is distilled on the detection queries alone, the
    outputs the student gives them without denoising queries (which they cannot see)."""
    model = build(teachers, [dict(type='TaskAmalgamation', aux_layers=True,
                                  targets=dict(score_thr=0.0))])
    hook = model.hooks[0]
    seen = []
    criterion = hook.criterion.forward
    hook.criterion.forward = lambda cls, boxes, *a: seen.append((cls, boxes)) or criterion(
        cls, boxes, *a)
    imgs, samples = _batch()
    recorded = []
    handle = model.student.bbox_head.register_forward_hook(
        lambda m, i, out: recorded.append(out[0].shape))
    losses = model.loss(imgs, samples)
    handle.remove()
    layers = model.student.decoder.num_layers
    assert {f'd{l}.loss_ta_cls' for l in range(layers - 1)} <= set(losses)
    assert recorded[0][2] > model.student.num_queries  # the student's loss had dn queries
    with torch.no_grad():
        cls, boxes = run_detector(model.student, imgs, samples)  # no denoising queries
    assert cls.shape[:3] == (layers, 2, model.student.num_queries)
    # loss_by_layers distils the last layer first, then layers 0 .. L-2.
    for (got_cls, got_boxes), layer in zip(seen, [layers - 1, *range(layers - 1)]):
        torch.testing.assert_close(got_cls, cls[layer])
        torch.testing.assert_close(got_boxes, boxes[layer])


@pytest.mark.parametrize('kind', ['dino', 'deformable'])
def test_student_forward_without_labels_gives_the_detection_queries(kind):
    """run_detector in training mode (the label-free student's forward): no ground truth
    read, and each decoder layer's detection-query outputs equal those of the training
    forward (DINO: with its denoising queries)."""
    make, student_type = PLAIN[kind]
    student = MODELS.build(dict(make(), type=student_type, num_teachers=2))
    student.init_weights()
    student.train()
    imgs, samples = batch(padded=True)
    with torch.no_grad():
        head_inputs = student.forward_transformer(student.extract_feat(imgs),
                                                  copy.deepcopy(samples))
        ref_cls, ref_boxes = student.bbox_head.forward(head_inputs['hidden_states'],
                                                       head_inputs['references'])
        for s in samples:
            del s.gt_instances
        cls, boxes = run_detector(student, imgs, samples)
    assert student.training and all(m.training for m in student.modules())
    queries = student.num_queries
    if kind == 'dino':
        assert ref_cls.size(2) > queries  # denoising queries first
    assert cls.shape[:3] == (student.decoder.num_layers, 2, queries)
    torch.testing.assert_close(cls, ref_cls[:, :, -queries:])
    torch.testing.assert_close(boxes, ref_boxes[:, :, -queries:])


def test_label_free_dino_reads_no_annotations(teachers):
    """gt_loss_weight=0 with a DINO student: no ground-truth term of any kind (decoder,
    two-stage encoder, denoising) and no annotation read; the loss is the same with or
    without annotations."""
    model = build(teachers, [dict(type='SequenceAmalgamation'),
                             dict(type='TaskAmalgamation', targets=dict(score_thr=0.0))],
                  gt_loss_weight=0.0)
    imgs, samples = _batch()
    with_gt = model.loss(imgs, copy.deepcopy(samples))
    for s in samples:
        del s.gt_instances
    losses = model.loss(imgs, samples)
    assert set(losses) == set(with_gt) == {'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls',
                                           'loss_ta_bbox', 'loss_ta_iou'}
    for key, value in losses.items():
        torch.testing.assert_close(value, with_gt[key])
    sum(losses.values()).backward()
    assert model.student.neck[1].convs[0].conv.weight.grad.abs().sum() > 0
    # What label-free leaves untrained in DINO: the two-stage proposal head (the memory
    # transform and the class and box branches after the last decoder layer), which only
    # the encoder ground-truth loss supervises (proposals are picked by top-k and detached),
    # and the denoising label embedding; every other parameter learns.
    enc = model.student.decoder.num_layers
    untrained = (f'bbox_head.cls_branches.{enc}.', f'bbox_head.reg_branches.{enc}.',
                 'memory_trans_', 'dn_query_generator.')
    params = dict(model.student.named_parameters())
    assert {n for n, p in params.items() if p.grad is None} == \
        {n for n in params if n.startswith(untrained)}


def test_proposal_ta_trains_the_label_free_proposal_head(teachers):
    """TaskAmalgamation(proposals=True): the student's two-stage proposals are distilled
    too (their own matching), so without ground truth the proposal head learns; only the
    denoising label embedding stays untrained."""
    model = build(teachers, [dict(type='SequenceAmalgamation'),
                             dict(type='TaskAmalgamation', proposals=True,
                                  targets=dict(score_thr=0.0))],
                  gt_loss_weight=0.0)
    hook = model.hooks[1]
    seen = []
    criterion = hook.criterion.forward
    hook.criterion.forward = lambda cls, boxes, *a: seen.append(boxes) or criterion(
        cls, boxes, *a)
    imgs, samples = _batch()
    for s in samples:
        del s.gt_instances
    losses = model.loss(imgs, samples)
    assert {'enc_loss_ta_cls', 'enc_loss_ta_bbox', 'enc_loss_ta_iou', 'loss_ta_cls'} <= \
        set(losses)
    assert not hook.proposal_recorder.outputs  # cleared after the step
    # The second criterion call distils the proposals the decoder started from.
    references = []
    handle = model.student.decoder.register_forward_hook(
        lambda m, a, kw, out: references.append(kw['reference_points']), with_kwargs=True)
    with torch.no_grad():
        run_detector(model.student, imgs, samples)
    handle.remove()
    torch.testing.assert_close(seen[1].detach(), references[0])
    sum(losses.values()).backward()
    params = dict(model.student.named_parameters())
    assert {n for n, p in params.items() if p.grad is None} == \
        {n for n in params if n.startswith('dn_query_generator.')}


def test_proposal_ta_needs_a_dino_student(teachers):
    from .tiny_setup import student_cfg
    with pytest.raises(ValueError, match='proposals=False, or use a DINO student'):
        build(teachers, [dict(type='TaskAmalgamation', proposals=True)],
              student=dict(student_cfg(), num_teachers=2))


DN = ('dn_loss_cls', 'dn_loss_bbox', 'dn_loss_iou')


def test_pseudo_labels_give_a_label_free_dino_student_its_denoising_loss(teachers):
    """pseudo_labels + gt_losses: DINO's denoising terms computed on the teachers' targets
    as labels (every layer's, times λ_d), the other terms of L_d dropped; no annotation is
    read, and the denoising label embedding, untrained label-free, learns."""
    hooks = [dict(type='SequenceAmalgamation'),
             dict(type='TaskAmalgamation', proposals=True, targets=dict(score_thr=0.0))]
    model = build(teachers, hooks, gt_loss_weight=0.1, gt_losses=DN,
                  pseudo_labels=dict(score_thr=0.0, max_targets=5))
    imgs, samples = _batch()
    torch.manual_seed(3)  # the denoising queries' noise
    with_gt = model.loss(imgs, copy.deepcopy(samples))
    for s in samples:
        del s.gt_instances
    torch.manual_seed(3)
    losses = model.loss(imgs, samples)
    assert not any(r.outputs for r in model._label_recorders)  # cleared after the step
    dn_keys = {f'pseudo.{p}{k}' for p in ('', 'd0.') for k in DN}  # the tiny student: 2 layers
    assert set(losses) == set(with_gt) == dn_keys | {
        'loss_sa_proj', 'loss_sa_enc0', 'loss_ta_cls', 'loss_ta_bbox', 'loss_ta_iou',
        'enc_loss_ta_cls', 'enc_loss_ta_bbox', 'enc_loss_ta_iou'}
    for key, value in losses.items():
        torch.testing.assert_close(value, with_gt[key])
    # The same terms as the student's own loss on the targets made labels, times λ_d.
    model.run_teachers(imgs, samples, run_detector)
    outs = [r['bbox_head'] for r in model._label_recorders]
    targets = model.pseudo_labeler([c[-1] for c, _ in outs], [b[-1] for _, b in outs])
    for hook in model.hooks:
        hook.clear()
    assert all(len(t) == 5 for t in targets)  # score_thr=0: max_targets per image
    torch.manual_seed(3)
    reference = model.student.loss(imgs, targets_as_samples(targets, samples))
    for key in dn_keys:
        torch.testing.assert_close(losses[key], 0.1 * reference[key[len('pseudo.'):]])
    sum(losses.values()).backward()
    params = dict(model.student.named_parameters())
    assert all(p.grad is not None for n, p in params.items()
               if n.startswith('dn_query_generator.'))


def test_pseudo_labels_and_gt_losses_errors_name_the_fix(teachers):
    hooks = [dict(type='SequenceAmalgamation')]
    with pytest.raises(ValueError, match='gt_loss_weight=0 never computes it'):
        build(teachers, hooks, gt_loss_weight=0.0, pseudo_labels=dict(score_thr=0.5))
    with pytest.raises(TypeError, match=r"write \['dn_loss_cls'\]"):
        build(teachers, hooks, gt_losses='dn_loss_cls')
    with pytest.raises(ValueError, match='score_thr must be in'):
        build(teachers, hooks, pseudo_labels=dict(score_thr=1.5))
    model = build(teachers, hooks, gt_losses=('dn_loss_cls', 'loss_kl'))
    with pytest.raises(ValueError, match=r"gt_losses names \['loss_kl'\].*'dn_loss_cls'"):
        model.loss(*_batch())


def test_slim_student_is_guided_by_the_teachers_multilevel_projections(teachers):
    model = build(teachers, [dict(type='SequenceAmalgamation')],
                  student=_student(compression=dict(strategy='redundancy')))
    guides = []
    select = model.student.compressor.select
    model.student.compressor.select = lambda g, m=None: guides.append(g.shape) or select(g, m)
    losses = model.loss(*_batch())
    assert torch.isfinite(sum(losses.values()))
    # One selection per level, each over both segments' tokens of that level, on the
    # teachers' projections (DIMS channels, the same as the student's here).
    assert len(guides) == model.student.num_feature_levels
    assert model.student.last_kept_indices.shape[1] * 2 == sum(g[1] for g in guides)


def test_multiscale_eval_guide_teachers_keeps_the_training_choice(teachers):
    """``eval_guide='teachers'`` on a DINO student: every level chooses on X_T at
    evaluation as in training (padded batch)."""
    model = build(teachers, [dict(type='SequenceAmalgamation')],
                  student=_student(compression=dict(strategy='redundancy',
                                                    eval_guide='teachers')))
    inputs, samples = _batch()
    model.loss(inputs, copy.deepcopy(samples))
    trained = model.student.last_kept_indices
    model.eval()
    with torch.no_grad():
        model(inputs, copy.deepcopy(samples), mode='predict')
    torch.testing.assert_close(model.student.last_kept_indices, trained)


def test_sag_hints_a_plain_dino_student(teachers):
    model = build(teachers, [dict(type='SequenceAggregation')],
                  student=tiny_dino_cfg(DIMS, num_classes=len(CLASSES)))
    losses = model.loss(*_batch())
    assert {'loss_sag_proj', 'loss_sag_enc0'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.hooks[0].projections['neck'][1].weight.grad.abs().sum() > 0


def test_single_scale_teacher_and_multiscale_student_is_a_clear_error(teachers, tmp_path):
    plain = [save_teacher(tmp_path / 't1.pth', T1, seed=1), teachers[1]]
    with pytest.raises(ValueError, match='feature level'):
        build(plain, [dict(type='SequenceAmalgamation')])


def test_ensemble_of_dino_teachers_predicts(teachers):
    model = MODELS.build(dict(type='TeacherEnsemble', teachers=teachers, classes=CLASSES))
    imgs, samples = _batch()
    out = model.predict(imgs, samples)
    labels = out[0].pred_instances.labels
    assert len(labels) == 2 * 5 and labels.max() < len(CLASSES)


def test_point_ta_decodes_the_teachers_proposals_with_a_dino_student(teachers):
    model = build(teachers, [dict(type='PointTaskAmalgamation',
                                  points=dict(num_general=7))])
    losses = model.loss(*_batch())
    assert {'loss_ta_pts_cls', 'loss_ta_pts_bbox', 'loss_ta_pts_iou'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    # The points cross-attend to both segments' memory: both projections learn from them.
    assert model.student.neck[1].convs[0].conv.weight.grad.abs().sum() > 0
    assert model.student.decoder.layers[0].cross_attn.sampling_offsets.weight.grad is not None


def test_teacher_cache_refuses_recorded_multiscale_encoder_calls(teachers, tmp_path):
    with pytest.raises(ValueError, match='level'):
        build(teachers, [dict(type='PointTaskAmalgamation')],
              teacher_cache=dict(dir=str(tmp_path / 'cache')))
    # SA and TA record no call arguments: their DINO teacher outputs are cacheable.
    build(teachers, [dict(type='SequenceAmalgamation'), dict(type='TaskAmalgamation')],
          teacher_cache=dict(dir=str(tmp_path / 'cache')))


def test_dino_teachers_frozen_out_of_checkpoints_and_embed_dims_checked(teachers, tmp_path):
    model = build(teachers, [dict(type='SequenceAmalgamation')])
    assert all(not m.training for m in model.teachers.modules())
    assert not any(p.requires_grad for p in model.teachers.parameters())
    assert not any(k.startswith('teachers.') for k in model.state_dict())
    wide = dict(tiny_dino_cfg(64, num_classes=len(CLASSES)), type='KADINOStudent',
                num_teachers=2)
    with pytest.raises(ValueError, match='embed dims'):
        build(teachers, [dict(type='SequenceAmalgamation')], student=wide)
