"""The TA hook's options reach the target builder, the matcher and the loss."""
import pytest
import torch

from mmdet.registry import MODELS

from ..amalgamators.tiny_setup import CLASSES, T1, T2, batch, save_teacher, student_cfg


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('ta_teachers')
    return [save_teacher(root / 't1.pth', T1, seed=1), save_teacher(root / 't2.pth', T2, seed=2)]


def _build(teachers, **ta_options):
    model = MODELS.build(dict(type='KADETRAmalgamator', student=student_cfg(), teachers=teachers,
                              classes=CLASSES, gt_loss_weight=0.0,
                              hooks=[dict(type='TaskAmalgamation', **ta_options)]))
    model.init_weights()
    return model


def _cost_types(model):
    return [type(cost).__name__ for cost in model.hooks[0].criterion.assigner.match_costs]


def test_match_cost_picks_the_assigner(teachers):
    assert _cost_types(_build(teachers)) == [
        'SoftKLCost', 'BBoxL1Cost', 'IoUCost', 'TeacherConfidenceCost']
    # The tiny models have sigmoid (focal) heads: the code's cost is their own GT matcher.
    assert _cost_types(_build(teachers, match_cost='prob')) == [
        'FocalLossCost', 'BBoxL1Cost', 'IoUCost']
    custom = dict(type='HungarianAssigner', match_costs=[dict(type='BBoxL1Cost', weight=1.0)])
    model = _build(teachers, loss=dict(type='TaskAmalgamationLoss', assigner=custom))
    assert _cost_types(model) == ['BBoxL1Cost']


def test_options_are_checked(teachers):
    with pytest.raises(ValueError, match="'hard'"):
        MODELS.build(dict(type='TaskAmalgamation', match_cost='hard'))
    with pytest.raises(ValueError, match='give only one'):
        MODELS.build(dict(type='TaskAmalgamation', match_cost='prob',
                          loss=dict(type='TaskAmalgamationLoss', assigner=dict(
                              type='HungarianAssigner', match_costs=[]))))
    with pytest.raises(ValueError, match="'top_k'"):
        _build(teachers, targets=dict(filter='top_k'))


@pytest.mark.parametrize('aux_layers', [False, True])
def test_aux_layers_distil_every_decoder_layer(teachers, aux_layers):
    """Layer l of the student gets its own matched terms (d{l}.*) only with aux_layers."""
    model = _build(teachers, aux_layers=aux_layers, targets=dict(score_thr=0.0))
    model.train()
    losses = model.loss(*batch())
    last = {'loss_ta_cls', 'loss_ta_bbox', 'loss_ta_iou'}
    aux = {f'd0.{k}' for k in last}  # the tiny student has 2 decoder layers
    assert set(losses) == (last | aux if aux_layers else last)
    if aux_layers:  # the first layer's term trains the decoder through that layer's output
        grads = torch.autograd.grad(losses['d0.loss_ta_cls'],
                                    list(model.student.decoder.layers[0].parameters()),
                                    allow_unused=True)
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
