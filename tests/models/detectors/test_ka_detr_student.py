"""KA-DETR students: extended sequence, block attention, compression, checkpoints, errors."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmengine.structures import InstanceData
from torch import nn

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmka.models.layers import gather_tokens, select_by_redundancy

from ...conftest import REPO, SHAPES_BASELINE, tiny_run_cfg

SHAPES_SLIM = osp.join(
    REPO, 'configs/baselines/ka-conditional-detr_r18tiny_1xb16-30e_shapes-rawext2t-slim.py')

DIMS, HEADS, CLASSES, QUERIES = 32, 2, 4, 5
# (plain mmdet detector, its student)
KINDS = {
    'detr': ('DETR', 'KADETRStudent'),
    'conditional': ('ConditionalDETRAnyDim', 'KAConditionalDETRStudent'),
    'dab': ('DABDETR', 'KADABDETRStudent'),
}


def _attn(cross, kind):
    if kind == 'detr':
        return dict(embed_dims=DIMS, num_heads=HEADS, dropout=0., batch_first=True)
    return dict(embed_dims=DIMS, num_heads=HEADS, attn_drop=0., cross_attn=cross)


def _plain_cfg(kind):
    """A tiny detector of ``kind`` (32 dims, 2+2 layers, dropout 0 so train mode is
    deterministic) on a 3-stage ResNet-18 with 16 base channels (stride 16)."""
    ffn = dict(embed_dims=DIMS, feedforward_channels=64, num_fcs=2, ffn_drop=0.)
    decoder = dict(num_layers=2, return_intermediate=True,
                   layer_cfg=dict(self_attn_cfg=_attn(False, kind),
                                  cross_attn_cfg=_attn(True, kind), ffn_cfg=ffn))
    focal = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0)
    head = dict(type='ConditionalDETRHead', loss_cls=focal)
    cls_cost = dict(type='FocalLossCost', weight=2.0)
    positional_encoding = dict(num_feats=DIMS // 2, normalize=True)
    extra = dict()
    if kind == 'detr':
        head = dict(type='DETRHead', loss_cls=dict(
            type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
            class_weight=1.0))
        cls_cost = dict(type='ClassificationCost', weight=1.)
    elif kind == 'dab':
        head = dict(type='DABDETRHead', loss_cls=focal)
        decoder.update(query_dim=4, query_scale_type='cond_elewise', with_modulated_hw_attn=True)
        positional_encoding.update(temperature=20)
        extra = dict(with_random_refpoints=False, num_patterns=0)
    return dict(
        type=KINDS[kind][0],
        num_queries=QUERIES,
        backbone=dict(type='ResNet', depth=18, base_channels=16, num_stages=3,
                      strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ),
                      norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False),
        neck=dict(type='ChannelMapper', in_channels=[64], kernel_size=1, out_channels=DIMS,
                  act_cfg=None, norm_cfg=None, num_outs=1),
        encoder=dict(num_layers=2, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=DIMS, num_heads=HEADS, dropout=0.), ffn_cfg=ffn)),
        decoder=decoder,
        positional_encoding=positional_encoding,
        bbox_head=dict(num_classes=CLASSES, embed_dims=DIMS, loss_bbox=dict(type='L1Loss',
                       loss_weight=5.0), loss_iou=dict(type='GIoULoss', loss_weight=2.0),
                       **head),
        train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=[
            cls_cost, dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        test_cfg=dict(max_per_img=QUERIES),
        **extra)


def _student_cfg(kind, num_teachers=2, **kwargs):
    cfg = _plain_cfg(kind)
    cfg.update(type=KINDS[kind][1], num_teachers=num_teachers, **kwargs)
    return cfg


def _build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _padded_batch(seed=0):
    """Two images of different sizes padded to one (64, 80) batch: a 4x5 map (n = 20) whose
    second image has padding rows and columns."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(2, 3, 64, 80, generator=g)
    samples = []
    for h, w in ((64, 80), (40, 44)):
        s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                        batch_input_shape=(64, 80), pad_shape=(64, 80),
                                        scale_factor=(1., 1.)))
        xy = torch.rand(2, 2, generator=g) * torch.tensor([w, h]) / 2
        s.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + 8], 1),
            labels=torch.randint(0, CLASSES, (2, ), generator=g))
        samples.append(s)
    return imgs, samples


def _total_loss(losses):
    return sum(v for k, v in losses.items() if 'loss' in k)


def _grads(model):
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _record(module):
    """Forward-hook ``module``; returns the list its outputs are appended to."""
    outputs = []
    module.register_forward_hook(lambda m, i, o: outputs.append(o))
    return outputs


@pytest.mark.parametrize('kind', KINDS)
def test_folded_equals_explicit_block_mask(kind):
    """Outputs (encoder layers, losses) and every gradient agree on a padded batch."""
    folded = _build(_student_cfg(kind, num_teachers=3))
    masked = _build(_student_cfg(kind, num_teachers=3, encoder_attention='masked'), seed=1)
    masked.load_state_dict(folded.state_dict())
    imgs, samples = _padded_batch()
    assert samples[1].img_shape != samples[1].batch_input_shape
    results = []
    for model in (folded, masked):
        layer_out = _record(model.encoder.layers[1])
        losses = model.loss(imgs, copy.deepcopy(samples))
        _total_loss(losses).backward()
        results.append((model.encoder_layer_segments(layer_out[0]), losses, _grads(model)))
    (seq_f, loss_f, grad_f), (seq_m, loss_m, grad_m) = results
    assert seq_f.shape == (2, 3, 20, DIMS)
    torch.testing.assert_close(seq_f, seq_m, atol=1e-5, rtol=1e-5)
    for k in loss_f:
        torch.testing.assert_close(loss_f[k], loss_m[k], atol=1e-5, rtol=1e-5)
    assert grad_f.keys() == grad_m.keys() and 'neck.2.convs.0.conv.weight' in grad_f
    for k in grad_f:
        torch.testing.assert_close(grad_f[k], grad_m[k], atol=1e-5, rtol=1e-5, msg=k)


@pytest.mark.parametrize('kind', KINDS)
def test_one_teacher_equals_mmdet_detector(kind):
    """N = 1 without compression is the plain detector: same losses and predictions."""
    plain = _build(_plain_cfg(kind))
    student = _build(_student_cfg(kind, num_teachers=1), seed=1)
    student.load_state_dict(plain.state_dict())  # plain keys: neck.* -> neck.0.*
    imgs, samples = _padded_batch()
    losses = [m.loss(imgs, copy.deepcopy(samples)) for m in (plain, student)]
    assert losses[0].keys() == losses[1].keys()
    for k in losses[0]:
        torch.testing.assert_close(losses[1][k], losses[0][k])
    preds = []
    for m in (plain, student):
        m.eval()
        with torch.no_grad():
            preds.append(m.predict(imgs, copy.deepcopy(samples)))
    for a, b in zip(*preds):
        assert a.pred_instances.bboxes.shape == (QUERIES, 4)
        for key in ('bboxes', 'scores', 'labels'):
            torch.testing.assert_close(b.pred_instances[key], a.pred_instances[key])


def test_extended_memory_reaches_decoder():
    """Decoder inputs: (B, N·n, C) memory, mask repeated N times; compressed: (B, n, C)."""
    imgs, samples = _padded_batch()
    for compression, length in ((None, 3 * 20), (dict(strategy='isometric'), 20)):
        model = _build(_student_cfg('detr', num_teachers=3, compression=compression)).eval()
        enc_in, dec_in = model.pre_transformer(model.extract_feat(imgs), samples)
        memory = model.forward_encoder(**enc_in)['memory']
        assert memory.shape == (2, length, DIMS)
        assert dec_in['memory_mask'].shape == (2, length)
        assert dec_in['memory_mask'][1].any() and not dec_in['memory_mask'][0].any()
        if compression is None:
            mask = dec_in['memory_mask']
            assert torch.equal(mask[:, :20], mask[:, 20:40])
            torch.testing.assert_close(dec_in['memory_pos'][:, :20],
                                       dec_in['memory_pos'][:, 40:])


@pytest.mark.parametrize('strategy, attention', [
    ('redundancy', 'full'), ('redundancy', 'grouped'), ('isometric', 'full'),
    ('random', 'grouped')])
def test_compressed_student_trains_and_predicts(strategy, attention):
    model = _build(_student_cfg('dab', num_teachers=3, compression=dict(
        strategy=strategy, attention=attention, seed=0)))
    imgs, samples = _padded_batch()
    layer_out = _record(model.encoder.layers[0])
    loss = _total_loss(model.loss(imgs, copy.deepcopy(samples)))
    loss.backward()
    assert torch.isfinite(loss) and model.last_kept_indices.shape == (2, 20)
    assert model.encoder_layer_segments(layer_out[0]).shape == (2, 20, DIMS)
    assert all(neck.convs[0].conv.weight.grad is not None for neck in model.neck)
    model.eval()
    with torch.no_grad():
        result = model.predict(imgs, copy.deepcopy(samples))
    assert torch.isfinite(result[1].pred_instances.bboxes).all()


def test_random_compression_evaluates_reproducibly():
    """Evaluating the same weights twice keeps the same tokens and predictions, whatever ran
    in between (training steps, global RNG use); training draws anew at every step."""
    model = _build(_student_cfg('detr', compression=dict(strategy='random', seed=3)))
    imgs, samples = _padded_batch()

    def kept_in(mode):
        model.train(mode == 'train')
        with torch.no_grad():
            out = model.loss(imgs, copy.deepcopy(samples)) if mode == 'train' else \
                model.predict(imgs, copy.deepcopy(samples))[0].pred_instances.bboxes
        return model.last_kept_indices.clone(), out

    kept, bboxes = kept_in('eval')
    checkpoint = copy.deepcopy(model.state_dict())
    steps = [kept_in('train')[0] for _ in range(2)]
    assert not torch.equal(steps[0], steps[1])
    model.load_state_dict(checkpoint)  # training forwards moved the BatchNorm statistics
    torch.manual_seed(123)
    again, bboxes_again = kept_in('eval')
    assert torch.equal(again, kept)
    torch.testing.assert_close(bboxes_again, bboxes)
    assert not any(k.startswith('compressor') for k in model.state_dict())


def _designed_guide(winner, mask, n=20, num_teachers=2):
    """(2, N·n, 8) guide whose least redundant segment is ``winner`` at every valid position:
    the winner's tokens are distinct one-hot vectors, the other segment's all equal."""
    guide = torch.zeros(2, num_teachers, n, 8)
    guide[..., 0] = 1.
    guide[:, winner] = torch.eye(8)[torch.arange(n) % 7 + 1]
    expected = torch.where(mask, 0, winner) * n + torch.arange(n)
    return guide.flatten(1, 2), expected


def test_compression_guidance_train_and_eval():
    """Training honours the caller's guide; evaluation (and no guide) uses X_S."""
    model = _build(_student_cfg('conditional', compression=dict(strategy='redundancy')))
    imgs, samples = _padded_batch()
    with torch.no_grad():
        _, dec_in = model.pre_transformer(model.extract_feat(imgs), samples)
    mask = dec_in['memory_mask']
    kept = []
    for winner in (0, 1):
        guide, expected = _designed_guide(winner, mask)
        with model.compression_guide(guide):
            model.loss(imgs, copy.deepcopy(samples))
        assert torch.equal(model.last_kept_indices, expected)
        kept.append(model.last_kept_indices)
    assert not torch.equal(*kept)

    necks = [_record(neck) for neck in model.neck]
    encoder_in = []
    model.encoder.register_forward_pre_hook(
        lambda m, args, kwargs: encoder_in.append(kwargs['query']), with_kwargs=True)

    def own_choice():
        x_s = torch.cat([model.projection_tokens(out[-1]) for out in necks], dim=1)
        return x_s, select_by_redundancy(x_s, 2, mask.repeat(1, 2))

    model.eval()
    with torch.no_grad(), model.compression_guide(_designed_guide(1, mask)[0]):
        model.predict(imgs, copy.deepcopy(samples))
    x_s, choice = own_choice()
    assert torch.equal(model.last_kept_indices, choice)
    assert not torch.equal(choice, kept[1])
    torch.testing.assert_close(encoder_in[-1], gather_tokens(x_s, choice))
    model.train()
    model.loss(imgs, copy.deepcopy(samples))  # training without a guide: X_S as well
    assert torch.equal(model.last_kept_indices, own_choice()[1])


def test_wrong_guide_shape_is_an_error():
    model = _build(_student_cfg('detr', compression=dict(strategy='redundancy')))
    imgs, samples = _padded_batch()
    with pytest.raises(ValueError, match=r'\(2, 20, 8\).*\(2, 40, 32\)'):
        with model.compression_guide(torch.zeros(2, 20, 8)):
            model.loss(imgs, samples)
    assert model._compression_guide is None  # the guide does not outlive the block


def _permutation(num_teachers, n, g):
    """A permutation of the N·n tokens that maps segments onto segments."""
    segments = torch.randperm(num_teachers, generator=g)
    positions = torch.randperm(n, generator=g)
    return torch.cat([s * n + positions for s in segments])


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('encoder_attention', ['folded', 'masked'])
def test_permutation_invariance(kind, encoder_attention):
    """Appendix B on the student: permuting the encoder's input tokens (with their positions
    and padding) permutes its output; permuting the memory leaves the decoder unchanged."""
    model = _build(_student_cfg(kind, encoder_attention=encoder_attention)).eval()
    imgs, samples = _padded_batch()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        enc_in, dec_in = model.pre_transformer(model.extract_feat(imgs), samples)
        memory = model.forward_encoder(**enc_in)['memory']
        perm = _permutation(2, 20, g)
        permuted = {k: v[:, perm] for k, v in enc_in.items()}
        torch.testing.assert_close(model.forward_encoder(**permuted)['memory'], memory[:, perm],
                                   atol=1e-5, rtol=1e-5)

        def decode(memory, memory_mask, memory_pos):
            query_in, _ = model.pre_decoder(memory)
            return model.forward_decoder(memory_mask=memory_mask, memory_pos=memory_pos,
                                         **query_in)['hidden_states']

        perm = torch.randperm(memory.size(1), generator=g)  # any permutation of the memory
        torch.testing.assert_close(
            decode(memory[:, perm], dec_in['memory_mask'][:, perm],
                   dec_in['memory_pos'][:, perm]),
            decode(memory, dec_in['memory_mask'], dec_in['memory_pos']),
            atol=1e-5, rtol=1e-5)


def _assert_tiled(student, plain):
    plain_sd, student_sd = plain.state_dict(), student.state_dict()
    for key, value in plain_sd.items():
        if key.startswith('neck.'):
            for t in range(2):
                torch.testing.assert_close(student_sd[f'neck.{t}.' + key[5:]], value)
        else:
            torch.testing.assert_close(student_sd[key], value)


def test_plain_checkpoint_tiles_projection(tmp_path):
    plain = _build(_plain_cfg('detr'), seed=0)
    # load_state_dict
    student = _build(_student_cfg('detr'), seed=1)
    assert not torch.equal(student.neck[0].convs[0].conv.weight,
                           student.neck[1].convs[0].conv.weight)
    student.load_state_dict(plain.state_dict())
    _assert_tiled(student, plain)
    # mmengine's load_checkpoint (what `load_from` uses), strict
    path = str(tmp_path / 'detr.pth')
    torch.save(dict(state_dict=plain.state_dict()), path)
    student = _build(_student_cfg('detr'), seed=1)
    load_checkpoint(student, path, map_location='cpu', strict=True)
    _assert_tiled(student, plain)
    # nested under a prefix, e.g. an amalgamator's `student.`
    wrapper = nn.Module()
    wrapper.student = _build(_student_cfg('detr'), seed=1)
    wrapper.load_state_dict({f'student.{k}': v for k, v in plain.state_dict().items()})
    _assert_tiled(wrapper.student, plain)


def test_student_checkpoint_round_trip():
    """A student's own state dict (distinct `neck.{t}`) loads unchanged."""
    src = _build(_student_cfg('detr'), seed=0)
    dst = _build(_student_cfg('detr'), seed=1)
    dst.load_state_dict(src.state_dict())
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        torch.testing.assert_close(b, a, msg=k)
    assert not torch.equal(dst.neck[0].convs[0].conv.weight, dst.neck[1].convs[0].conv.weight)


def test_hookable_sequences():
    model = _build(_student_cfg('detr', num_teachers=3))
    assert model.sequence_module_names() == [
        'neck.0', 'neck.1', 'neck.2', 'encoder.layers.0', 'encoder.layers.1']
    modules = dict(model.named_modules())
    outputs = {name: _record(modules[name]) for name in model.sequence_module_names()}
    imgs, samples = _padded_batch()
    model.loss(imgs, samples)
    assert model.projection_tokens(outputs['neck.2'][0]).shape == (2, 20, DIMS)
    assert outputs['encoder.layers.0'][0].shape == (2 * 3, 20, DIMS)  # folded
    segments = model.encoder_layer_segments(outputs['encoder.layers.0'][0])
    assert segments.shape == (2, 3, 20, DIMS)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(num_teachers=0), ValueError, 'num_teachers=0'),
    (dict(num_teachers=2.0), TypeError, 'num_teachers=2.0'),
    (dict(num_teachers=True), TypeError, 'num_teachers=True'),
    (dict(encoder_attention='sparse'), ValueError, 'sparse'),
    (dict(compression=dict(strategy='topk')), ValueError, 'topk'),
    (dict(compression=dict(strategy='random', attention='local')), ValueError, 'local'),
    (dict(compression=dict(stratgy='random')), TypeError, 'stratgy'),
    (dict(compression='redundancy'), TypeError, 'redundancy'),
    (dict(neck=None), ValueError, 'neck'),
])
def test_bad_arguments(kwargs, error, match):
    cfg = _student_cfg('detr')
    cfg.update(kwargs)
    with pytest.raises(error, match=match):
        MODELS.build(cfg)


def test_slim_config_trains_and_evaluates_from_plain_checkpoint(shapes_root, tmp_path):
    """The shapes slim config through the Runner: one epoch with validation, then
    `load_from=<plain Conditional DETR>` + the test loop (projection tiled, CocoMetric)."""
    cfg = tiny_run_cfg(SHAPES_SLIM, shapes_root, str(tmp_path / 'train'), epochs=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.model.last_kept_indices is not None

    plain = _build(Config.fromfile(SHAPES_BASELINE).model)
    path = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict=plain.state_dict()), path)
    cfg = tiny_run_cfg(SHAPES_SLIM, shapes_root, str(tmp_path / 'test'))
    cfg.load_from = path
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert 0.0 <= metrics['coco/bbox_mAP_50'] <= 1.0
    weight = plain.neck.convs[0].conv.weight
    for neck in runner.model.neck:
        # .cpu(): the Runner moves the model to a GPU where one is visible.
        torch.testing.assert_close(neck.convs[0].conv.weight.cpu(), weight)
