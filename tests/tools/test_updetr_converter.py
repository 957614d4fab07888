"""updetr_to_mmdet: a DETR-layout pre-norm model (facebookresearch/detr key names and
``forward_pre`` arithmetic, written out below) and the converted PreNormDETR compute the same
backbone features, memory and head outputs; unmapped keys are reported; --skip-head."""
import argparse

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from torch import nn

from mmdet.registry import MODELS

from ..conftest import load_tool
from ..models.amalgamators.kd_setup import tiny_cfg

HEAD_KEYS = ('query_embedding.weight', 'bbox_head.fc_cls.weight', 'bbox_head.fc_cls.bias',
             'bbox_head.reg_ffn.layers.0.0.weight', 'bbox_head.reg_ffn.layers.0.0.bias',
             'bbox_head.reg_ffn.layers.1.weight', 'bbox_head.reg_ffn.layers.1.bias',
             'bbox_head.fc_reg.weight', 'bbox_head.fc_reg.bias')


# ---- reference: DETR's module layout (backbone.0.body = torchvision ResNet, transformer.*)
class FrozenBN(nn.Module):
    """DETR's FrozenBatchNorm2d: statistics and affine as buffers, no step counter."""

    def __init__(self, n):
        super().__init__()
        for name, fill in (('weight', 1.), ('bias', 0.), ('running_mean', 0.),
                           ('running_var', 1.)):
            self.register_buffer(name, torch.full((n, ), fill))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            False, 0., 1e-5)


class BasicBlock(nn.Module):
    """torchvision's ResNet-18 block."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = FrozenBN(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = FrozenBN(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            FrozenBN(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + identity)


class Body(nn.Module):
    """torchvision ResNet-18 of base width ``w`` up to layer3 (IntermediateLayerGetter)."""

    def __init__(self, w):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = FrozenBN(w)
        for i, (cin, cout, stride) in enumerate(((w, w, 1), (w, 2 * w, 2), (2 * w, 4 * w, 2))):
            setattr(self, f'layer{i + 1}', nn.Sequential(BasicBlock(cin, cout, stride),
                                                         BasicBlock(cout, cout, 1)))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.layer3(self.layer2(self.layer1(x)))


class EncoderLayer(nn.Module):
    """DETR TransformerEncoderLayer, normalize_before=True; sequences are (n, B, C)."""

    def __init__(self, c, heads, ff):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(c, heads)
        self.linear1, self.linear2 = nn.Linear(c, ff), nn.Linear(ff, c)
        self.norm1, self.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)

    def forward(self, src, mask, pos):
        x = self.norm1(src)
        src = src + self.self_attn(x + pos, x + pos, x, key_padding_mask=mask)[0]
        return src + self.linear2(F.relu(self.linear1(self.norm2(src))))


class DecoderLayer(nn.Module):
    """DETR TransformerDecoderLayer, normalize_before=True."""

    def __init__(self, c, heads, ff):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(c, heads)
        self.multihead_attn = nn.MultiheadAttention(c, heads)
        self.linear1, self.linear2 = nn.Linear(c, ff), nn.Linear(ff, c)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(c) for _ in range(3))

    def forward(self, tgt, memory, mask, pos, query_pos):
        x = self.norm1(tgt)
        tgt = tgt + self.self_attn(x + query_pos, x + query_pos, x)[0]
        tgt = tgt + self.multihead_attn(self.norm2(tgt) + query_pos, memory + pos, memory,
                                        key_padding_mask=mask)[0]
        return tgt + self.linear2(F.relu(self.linear1(self.norm3(tgt))))


class Stack(nn.Module):
    def __init__(self, layers, c):
        super().__init__()
        self.layers, self.norm = nn.ModuleList(layers), nn.LayerNorm(c)


class MLP(nn.Module):
    def __init__(self, c_in, c_hidden, c_out, num_layers):
        super().__init__()
        dims = [c_in] + [c_hidden] * (num_layers - 1) + [c_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class ReferenceDETR(nn.Module):
    """DETR / UP-DETR with ``--pre_norm`` at tiny sizes; ``updetr=True`` adds UP-DETR's
    pre-training modules (no mmdet counterpart)."""

    def __init__(self, width, c, heads, ff, enc, dec, queries, num_classes, updetr=False):
        super().__init__()
        self.backbone = nn.ModuleList([nn.Module()])
        self.backbone[0].body = Body(width)
        self.transformer = nn.Module()
        self.transformer.encoder = Stack([EncoderLayer(c, heads, ff) for _ in range(enc)], c)
        self.transformer.decoder = Stack([DecoderLayer(c, heads, ff) for _ in range(dec)], c)
        self.query_embed = nn.Embedding(queries, c)
        self.input_proj = nn.Conv2d(4 * width, c, 1)
        self.class_embed = nn.Linear(c, num_classes + 1)
        self.bbox_embed = MLP(c, c, 4, 3)
        if updetr:
            self.patch2query = nn.Linear(4 * width, c)
            self.feature_align = MLP(c, c, 4 * width, 2)

    def from_features(self, feat, mask, pos):
        """feat (B, 4w, h, w), mask (B, h, w), pos (B, C, h, w) -> memory (B, n, C), class
        logits (L, B, Q, K+1), boxes (L, B, Q, 4)."""
        src = self.input_proj(feat).flatten(2).permute(2, 0, 1)  # (n, B, C)
        pos, mask = pos.flatten(2).permute(2, 0, 1), mask.flatten(1)
        memory = src
        for layer in self.transformer.encoder.layers:
            memory = layer(memory, mask, pos)
        memory = self.transformer.encoder.norm(memory)
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, feat.size(0), 1)
        tgt, hs = torch.zeros_like(query_pos), []
        for layer in self.transformer.decoder.layers:
            tgt = layer(tgt, memory, mask, pos, query_pos)
            hs.append(self.transformer.decoder.norm(tgt))
        hs = torch.stack(hs).transpose(1, 2)  # (L, B, Q, C)
        return memory.transpose(0, 1), self.class_embed(hs), self.bbox_embed(hs).sigmoid()


# ---- setup
@pytest.fixture(scope='module')
def tool():
    return load_tool('model_converters/updetr_to_mmdet')


def _tiny_cfg():
    cfg = tiny_cfg('detr')
    cfg['type'] = 'PreNormDETR'
    return cfg


def _models(updetr=False, seed=0):
    """(reference with random weights and statistics, tiny PreNormDETR of the same sizes)."""
    cfg = _tiny_cfg()
    layer = cfg['encoder']['layer_cfg']
    ref = ReferenceDETR(
        width=cfg['backbone']['base_channels'], c=cfg['neck']['out_channels'],
        heads=layer['self_attn_cfg']['num_heads'],
        ff=layer['ffn_cfg']['feedforward_channels'], enc=cfg['encoder']['num_layers'],
        dec=cfg['decoder']['num_layers'], queries=cfg['num_queries'],
        num_classes=cfg['bbox_head']['num_classes'], updetr=updetr)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in ref.state_dict().items():  # shares storage with the module
            noise = torch.randn(t.shape, generator=g) * 0.2
            t.copy_(torch.rand(t.shape, generator=g) + 0.5 if name.endswith('running_var')
                    else t + noise)
    model = MODELS.build(cfg)
    model.init_weights()
    return ref.eval(), model.eval()


# ---- tests
def test_converted_model_computes_the_same(tool):
    ref, model = _models()
    result = tool.convert(ref.state_dict(), target_keys=model.state_dict())
    assert result.unmapped == [] and result.missing == []
    model.load_state_dict(result.state_dict, strict=True)
    g = torch.Generator().manual_seed(1)
    img = torch.randn(2, 3, 64, 80, generator=g)
    with torch.no_grad():
        feat = model.backbone(img)[-1]
        torch.testing.assert_close(feat, ref.backbone[0].body(img), atol=1e-5, rtol=1e-5)
        # From the input projection on: same features, padding mask and positions for both.
        mask = torch.zeros(2, *feat.shape[-2:], dtype=torch.bool)
        mask[1, 2:, 3:] = True
        pos = model.positional_encoding(mask)  # (B, C, h, w)
        memory_ref, cls_ref, boxes_ref = ref.from_features(feat, mask, pos)
        tokens = model.neck((feat, ))[-1].flatten(2).transpose(1, 2)
        flat_mask, flat_pos = mask.flatten(1), pos.flatten(2).transpose(1, 2)
        memory = model.forward_encoder(tokens, flat_mask, flat_pos)['memory']
        decoder_in, _ = model.pre_decoder(memory)
        hidden = model.forward_decoder(memory_mask=flat_mask, memory_pos=flat_pos,
                                       **decoder_in)['hidden_states']
        cls, boxes = model.bbox_head(hidden)
    assert cls.shape == cls_ref.shape == (2, 2, 8, cls.size(-1))
    for got, expected in ((memory, memory_ref), (cls, cls_ref), (boxes, boxes_ref)):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_unmapped_keys_and_skip_head(tool):
    ref, model = _models(updetr=True)
    source = ref.state_dict()
    result = tool.convert(source, target_keys=model.state_dict())
    assert result.unmapped == [k for k in source if k.startswith(('patch2query.',
                                                                  'feature_align.'))]
    assert 'patch2query.weight' in result.unmapped and result.missing == []
    skipped = tool.convert(source, skip_head=True, target_keys=model.state_dict())
    assert sorted(skipped.missing) == sorted(HEAD_KEYS)
    assert not set(skipped.state_dict) & set(HEAD_KEYS)
    assert {'query_embed.weight', 'class_embed.bias', 'bbox_embed.layers.2.weight'} <= \
        set(skipped.unmapped)
    incompatible = model.load_state_dict(skipped.state_dict, strict=False)
    assert sorted(incompatible.missing_keys) == sorted(HEAD_KEYS)
    assert incompatible.unexpected_keys == []


def test_coco_80_rows(tool):
    g = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(92, 4, generator=g), torch.randn(92, generator=g)
    out = tool.convert({'class_embed.weight': weight, 'class_embed.bias': bias},
                       coco_80=True).state_dict
    assert out['bbox_head.fc_cls.weight'].shape == (81, 4)
    # label 0 is COCO id 1 (person), label 11 id 13 (stop sign: id 12 is unused), the
    # background DETR's no-object row 91.
    for label, row in ((0, 1), (11, 13), (79, 90), (80, 91)):
        torch.testing.assert_close(out['bbox_head.fc_cls.weight'][label], weight[row])
        torch.testing.assert_close(out['bbox_head.fc_cls.bias'][label], bias[row])
    with pytest.raises(ValueError, match='92 rows.*got 5'):
        tool.convert({'class_embed.weight': weight[:5]}, coco_80=True)


def test_command_line(tool, tmp_path, capsys):
    """A checkpoint saved as UP-DETR's main.py does (with its argparse args) converts and
    loads into the config's model with mmengine."""
    ref, model = _models(updetr=True)
    src, dst, cfg_file = (str(tmp_path / name) for name in ('updetr.pth', 'mmdet.pth',
                                                           'tiny.py'))
    torch.save(dict(model=ref.state_dict(), epoch=59, args=argparse.Namespace(pre_norm=True)),
               src)
    Config(dict(model=_tiny_cfg())).dump(cfg_file)
    result = tool.main([src, dst, '--skip-head', '--config', cfg_file])
    printed = capsys.readouterr().out
    assert 'patch2query.weight' in printed and 'bbox_head.fc_cls.weight' in printed
    assert sorted(result.missing) == sorted(HEAD_KEYS)
    ckpt = torch.load(dst, map_location='cpu')
    assert ckpt['meta']['skip_head'] is True
    load_checkpoint(model, dst, map_location='cpu', strict=False)
    torch.testing.assert_close(model.encoder.post_norm.weight,
                               ref.transformer.encoder.norm.weight)
    torch.testing.assert_close(model.decoder.layers[1].cross_attn.attn.in_proj_weight,
                               ref.transformer.decoder.layers[1].multihead_attn.in_proj_weight)
    with pytest.raises(ValueError, match='key "model"'):
        torch.save(dict(state_dict=ref.state_dict()), src)
        tool.main([src, dst, '--config', cfg_file])


def test_converted_checkpoint_starts_a_ka_student(tool, tmp_path):
    """Student_UP (configs/ka/voc_2t-up.py): the converted UP-DETR weights (--skip-head)
    start a 2-segment KA student through ``student_checkpoint``: the projection in both
    segments, encoder and decoder as converted; the head and queries keep their
    initialisation."""
    from mmka.models.amalgamators import load_student_start
    ref, plain = _models(updetr=True)
    dst = str(tmp_path / 'mmdet.pth')
    result = tool.convert(ref.state_dict(), skip_head=True, target_keys=plain.state_dict())
    torch.save(dict(state_dict=result.state_dict, meta=dict()), dst)
    student = MODELS.build(dict(_tiny_cfg(), type='KAPreNormDETRStudent', num_teachers=2))
    student.init_weights()
    initial = {k: v.clone() for k, v in student.state_dict().items()}
    load_student_start(student, dst)
    state = student.state_dict()
    for t in range(2):
        torch.testing.assert_close(state[f'neck.{t}.convs.0.conv.weight'],
                                   ref.input_proj.weight)
    torch.testing.assert_close(state['encoder.post_norm.weight'],
                               ref.transformer.encoder.norm.weight)
    for key in HEAD_KEYS:
        assert torch.equal(state[key], initial[key]), key
