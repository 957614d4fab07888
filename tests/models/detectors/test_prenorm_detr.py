"""PreNormDETR and its KA student: pre-norm transformer, training, student equivalence."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from mmka.models.layers import (PreNormDetrTransformerDecoderLayer,
                                PreNormDetrTransformerEncoder,
                                PreNormDetrTransformerEncoderLayer)

from ...conftest import REPO
from ..amalgamators.kd_setup import tiny_cfg
from ..amalgamators.tiny_setup import batch

PRENORM_R50 = osp.join(REPO, 'configs/_base_/models/detr-prenorm_r50.py')


def _build(model_type, seed=0, **kwargs):
    """A tiny detector of ``model_type``: embed dims 32, 1 encoder / 2 decoder layers,
    3-stage ResNet-18 with 8 base channels, 8 queries."""
    cfg = tiny_cfg('detr')
    cfg.update(type=model_type, **kwargs)
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _raw_head_outputs(model, inputs, samples):
    """(cls scores (L, B, Q, K+1), boxes (L, B, Q, 4)) of every decoder layer, eval mode."""
    model.eval()
    with torch.no_grad():
        return model._forward(inputs, copy.deepcopy(samples))


def test_builds_prenorm_transformer():
    model = _build('PreNormDETR')
    assert isinstance(model.encoder, PreNormDetrTransformerEncoder)
    assert all(isinstance(layer, PreNormDetrTransformerEncoderLayer)
               for layer in model.encoder.layers)
    assert all(isinstance(layer, PreNormDetrTransformerDecoderLayer)
               for layer in model.decoder.layers)
    plain_keys = set(_build('DETR').state_dict())
    assert set(model.state_dict()) - plain_keys == {'encoder.post_norm.weight',
                                                    'encoder.post_norm.bias'}
    assert plain_keys <= set(model.state_dict())


def test_trains_one_step():
    model = _build('PreNormDETR')
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    for name in ('encoder.post_norm.weight', 'encoder.layers.0.norms.0.weight',
                 'decoder.layers.1.norms.2.weight', 'neck.convs.0.conv.weight'):
        grad = model.get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    before = copy.deepcopy(model.state_dict())
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert not torch.equal(model.encoder.post_norm.weight, before['encoder.post_norm.weight'])


def test_r50_config_is_detr_r50_with_prenorm():
    cfg = Config.fromfile(PRENORM_R50).model
    plain = Config.fromfile(osp.join(REPO, 'configs/_base_/models/detr_r50.py')).model
    assert cfg.type == 'PreNormDETR'
    cfg.type = plain.type
    assert cfg.to_dict() == plain.to_dict()
    model = MODELS.build(Config.fromfile(PRENORM_R50).model)
    assert type(model).__name__ == 'PreNormDETR'
    assert len(model.encoder.layers) == 6 and model.encoder.post_norm.normalized_shape == (256, )


@pytest.mark.parametrize('num_teachers, encoder_attention', [
    (1, 'folded'), (2, 'folded'), (2, 'masked')])
def test_student_with_tiled_weights_equals_prenorm_detr(num_teachers, encoder_attention):
    """A plain checkpoint fills every projection: the N segments are identical, the encoder
    (pre-norm layers and final norm, block-diagonal) maps each to the plain memory, and
    cross-attention over N copies of the memory equals attention over one, so the raw head
    outputs are the plain detector's (padded batch)."""
    plain = _build('PreNormDETR')
    student = _build('KAPreNormDETRStudent', seed=1, num_teachers=num_teachers,
                     encoder_attention=encoder_attention)
    student.load_state_dict(plain.state_dict())  # neck.* -> neck.{t}.*
    inputs, samples = batch()
    assert samples[1].img_shape != samples[1].batch_input_shape
    expected = _raw_head_outputs(plain, inputs, samples)
    got = _raw_head_outputs(student, inputs, samples)
    assert got[0].shape == (2, 2, 8, expected[0].size(-1))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_student_folded_equals_masked():
    """Distinct projections (N = 3): the folded encoder, final norm included, equals the
    explicit block-diagonal mask."""
    folded = _build('KAPreNormDETRStudent', num_teachers=3)
    masked = _build('KAPreNormDETRStudent', seed=1, num_teachers=3,
                    encoder_attention='masked')
    masked.load_state_dict(folded.state_dict())
    inputs, samples = batch()
    outs = []
    for model in (folded, masked):
        model.eval()
        with torch.no_grad():
            enc_in, _ = model.pre_transformer(model.extract_feat(inputs), samples)
            outs.append((model.forward_encoder(**enc_in)['memory'],
                         model._forward(inputs, copy.deepcopy(samples))))
    (mem_f, head_f), (mem_m, head_m) = outs
    assert mem_f.shape == (2, 3 * 16, 32)  # 3 segments of 4x4 tokens (64 px, stride 16)
    torch.testing.assert_close(mem_f, mem_m, atol=1e-5, rtol=1e-5)
    for a, b in zip(head_f, head_m):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_compressed_student_trains_and_predicts():
    """Compression with grouped attention passes its (B·heads, n, n) mask through the
    pre-norm encoder's layers."""
    model = _build('KAPreNormDETRStudent', num_teachers=2,
                   compression=dict(strategy='redundancy', attention='grouped'))
    inputs, samples = batch()
    losses = model.loss(inputs, copy.deepcopy(samples))
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    loss.backward()
    assert torch.isfinite(loss) and model.last_kept_indices.shape == (2, 16)
    assert model.encoder.post_norm.weight.grad is not None
    model.eval()
    with torch.no_grad():
        result = model.predict(inputs, copy.deepcopy(samples))
    assert torch.isfinite(result[1].pred_instances.bboxes).all()
