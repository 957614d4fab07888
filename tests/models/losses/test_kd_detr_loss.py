"""KDDETRLoss against a brute-force reference; zero for identical predictions."""
import pytest
import torch
import torch.nn.functional as F

from mmka.models.losses import KDDETRLoss

from ...distributed_utils import run_gloo
from .. import ta_reference as ref

LAYERS, BATCH, POINTS, CLASSES = 3, 2, 6, 4


def width(head):
    return CLASSES + 1 if head == 'softmax' else CLASSES


def predictions(head, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(LAYERS, BATCH, POINTS, width(head), generator=g) * 3
    boxes = torch.rand(LAYERS, BATCH, POINTS, 2, generator=g) * 0.5 + 0.25
    sizes = torch.rand(LAYERS, BATCH, POINTS, 2, generator=g) * 0.3 + 0.05
    return logits, torch.cat([boxes, sizes], -1)


def confidence(t, head):
    """A teacher point's weight w_i: its largest (non-background) class probability."""
    return max(ref.softmax(t)[:-1]) if head == 'softmax' else max(ref.sigmoid(v) for v in t)


def reference(s_logits, s_boxes, t_logits, t_boxes, head, T, weights=(1, 5, 2),
              normalizer=None):
    """The loss point by point in plain Python (tests/models/ta_reference.py). GIoU on
    absolute boxes of a non-square image: the loss takes it on normalised ones.
    ``normalizer`` replaces W = Σ_i w_i (e.g. by its mean over DDP ranks)."""
    img_shape = (60, 90)
    out = {}
    for layer in range(len(s_logits)):
        cls = l1 = giou = total_w = 0.
        for b in range(BATCH):
            for i in range(POINTS):
                t, s = t_logits[b, i].tolist(), s_logits[layer, b, i].tolist()
                w = confidence(t, head)
                p = ref.softmax(t, T) if head == 'softmax' else [ref.sigmoid(v / T) for v in t]
                tb, sb = t_boxes[b, i].tolist(), s_boxes[layer, b, i].tolist()
                cls += w * ref.kl(p, s, head, T)
                l1 += w * ref.l1(tb, sb)
                giou += w * (1 - ref.giou(ref.cxcywh_to_xyxy(tb, img_shape),
                                          ref.cxcywh_to_xyxy(sb, img_shape)))
                total_w += w
        if normalizer is not None:
            total_w = normalizer
        prefix = '' if layer == len(s_logits) - 1 else f'd{layer}.'
        out.update({prefix + 'loss_kd_cls': weights[0] * cls / total_w,
                    prefix + 'loss_kd_bbox': weights[1] * l1 / total_w,
                    prefix + 'loss_kd_iou': weights[2] * giou / total_w})
    return out


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
@pytest.mark.parametrize('temperature', [1.0, 10.0])
def test_matches_reference(head, temperature):
    s_logits, s_boxes = predictions(head, 0)
    t_logits, t_boxes = (x[-1] for x in predictions(head, 1))
    loss = KDDETRLoss(temperature=temperature)
    got = loss(s_logits, s_boxes, t_logits, t_boxes, head)
    expected = reference(s_logits, s_boxes, t_logits, t_boxes, head, temperature)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].item() == pytest.approx(value, rel=1e-4, abs=1e-5), key


@pytest.mark.parametrize('head', ['softmax', 'sigmoid'])
def test_zero_for_identical_predictions_positive_otherwise(head):
    s_logits, s_boxes = predictions(head, 0)
    same = KDDETRLoss()(s_logits, s_boxes, s_logits[-1], s_boxes[-1], head)
    for key in ('loss_kd_cls', 'loss_kd_bbox', 'loss_kd_iou'):
        assert abs(same[key]) < 1e-4, (key, same[key])
        assert same[f'd0.{key}'] > 1e-2  # earlier layers differ from the last
    other_logits, other_boxes = predictions(head, 1)
    other = KDDETRLoss()(s_logits, s_boxes, other_logits[-1], other_boxes[-1], head)
    assert all(v > 1e-2 for v in other.values())


def test_unconfident_points_do_not_count():
    head = 'sigmoid'
    s_logits, s_boxes = predictions(head, 0)
    t_logits, t_boxes = (x[-1].clone() for x in predictions(head, 1))
    t_logits[0, 0] = -60.0  # conf = sigmoid(-60) ≈ 1e-26: background
    loss = KDDETRLoss()
    before = loss(s_logits, s_boxes, t_logits, t_boxes, head)
    moved_logits, moved_boxes = s_logits.clone(), s_boxes.clone()
    moved_logits[:, 0, 0] += 5
    moved_boxes[:, 0, 0, :2] += 0.1
    after = loss(moved_logits, moved_boxes, t_logits, t_boxes, head)
    for key in before:
        torch.testing.assert_close(after[key], before[key])


def test_weights_last_layer_only_and_gradients():
    s_logits, s_boxes = predictions('softmax', 0)
    s_logits.requires_grad_(True)
    s_boxes.requires_grad_(True)
    t_logits, t_boxes = (x[-1] for x in predictions('softmax', 1))
    full = KDDETRLoss()(s_logits, s_boxes, t_logits, t_boxes, 'softmax')
    last = KDDETRLoss(cls_weight=2, l1_weight=1, giou_weight=0, aux_layers=False)(
        s_logits, s_boxes, t_logits, t_boxes, 'softmax')
    assert set(last) == {'loss_kd_cls', 'loss_kd_bbox', 'loss_kd_iou'}
    torch.testing.assert_close(last['loss_kd_cls'], 2 * full['loss_kd_cls'])
    torch.testing.assert_close(last['loss_kd_bbox'], full['loss_kd_bbox'] / 5)
    assert last['loss_kd_iou'] == 0
    sum(last.values()).backward()
    assert s_logits.grad[:-1].abs().sum() == 0 and s_logits.grad[-1].abs().sum() > 0
    assert s_boxes.grad[-1].abs().sum() > 0


def test_reduced_precision_inputs():
    s_logits, s_boxes = predictions('sigmoid', 0)
    t_logits, t_boxes = (x[-1] for x in predictions('sigmoid', 1))
    full = KDDETRLoss()(s_logits, s_boxes, t_logits, t_boxes, 'sigmoid')
    half = KDDETRLoss()(s_logits.bfloat16(), s_boxes.bfloat16(), t_logits.bfloat16(),
                        t_boxes.bfloat16(), 'sigmoid')
    for key, value in half.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, full[key], rtol=0.05, atol=0.02)


def test_bad_inputs():
    s_logits, s_boxes = predictions('sigmoid', 0)
    loss = KDDETRLoss()
    with pytest.raises(ValueError, match='same points'):
        loss(s_logits, s_boxes, s_logits[-1, :, :3], s_boxes[-1, :, :3], 'sigmoid')
    with pytest.raises(ValueError, match='same points'):
        loss(s_logits, s_boxes, F.pad(s_logits[-1], (0, 1)), s_boxes[-1], 'sigmoid')
    with pytest.raises(ValueError, match='Boxes'):
        loss(s_logits, s_boxes[..., :2], s_logits[-1], s_boxes[-1], 'sigmoid')
    with pytest.raises(ValueError, match='head kind'):
        loss(s_logits, s_boxes, s_logits[-1], s_boxes[-1], 'focal')
    with pytest.raises(ValueError, match='temperature'):
        KDDETRLoss(temperature=0)
    with pytest.raises(ValueError, match='giou_weight'):
        KDDETRLoss(giou_weight=-1)


def rank_inputs(rank, head):
    """Rank ``rank``'s own predictions; rank 1's teacher is less confident (smaller W)."""
    s_logits, s_boxes = predictions(head, 2 * rank)
    t_logits, t_boxes = (x[-1].clone() for x in predictions(head, 2 * rank + 1))
    t_logits[..., :CLASSES] -= 3.0 * rank  # class columns only (softmax: not background)
    return s_logits, s_boxes, t_logits, t_boxes


def distributed_loss(rank):
    """The loss on this rank's inputs, inside a gloo process group (both head kinds)."""
    return {head: {k: v.item() for k, v in KDDETRLoss()(*rank_inputs(rank, head), head).items()}
            for head in ('softmax', 'sigmoid')}


def test_normalizer_is_averaged_across_two_gloo_ranks(tmp_path):
    """W is the mean of the ranks' Σ_i w_i (mmdet's reduce_mean); numerators stay local."""
    results = run_gloo(distributed_loss, tmp_path)
    for head in ('softmax', 'sigmoid'):
        inputs = [rank_inputs(rank, head) for rank in range(2)]
        sums = [sum(confidence(t, head) for t in t_logits.flatten(0, 1).tolist())
                for _, _, t_logits, _ in inputs]
        assert sums[1] < 0.8 * sums[0]  # the ranks' own normalisers differ
        mean = sum(sums) / 2
        for rank, got in enumerate(results):
            expected = reference(*inputs[rank], head, 10.0, normalizer=mean)
            local = reference(*inputs[rank], head, 10.0)
            assert set(got[head]) == set(expected)
            for key, value in expected.items():
                assert got[head][key] == pytest.approx(value, rel=1e-4, abs=1e-5), (head, key)
                assert value != pytest.approx(local[key], rel=0.05), (head, key)
