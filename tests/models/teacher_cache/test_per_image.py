"""Per-image split of recorded batch outputs and its inverse."""
import pytest
import torch

from mmka.models.teacher_cache.per_image import batch_dim, split_batch, stack_images


def test_split_then_stack_is_identity_with_layer_first_heads():
    cls, boxes = torch.randn(3, 2, 5, 7), torch.rand(3, 2, 5, 4)  # (L, B, m, ·)
    neck = (torch.randn(2, 8, 4, 4), )
    memory, mask = torch.randn(2, 16, 8), torch.rand(2, 16) > 0.5
    records = {'bbox_head': ((cls, boxes), None), 'neck': (neck, None),
               'encoder': (memory, dict(key_padding_mask=mask, query_pos=None))}
    entries = split_batch(records, 2)
    assert entries[1]['bbox_head'][0][0].shape == (3, 5, 7)
    torch.testing.assert_close(entries[1]['bbox_head'][0][0], cls[:, 1])
    torch.testing.assert_close(entries[0]['encoder'][0], memory[0])
    assert entries[0]['encoder'][1]['query_pos'] is None
    back = stack_images(entries, torch.device('cpu'))
    torch.testing.assert_close(back['bbox_head'][0][1], boxes, rtol=0, atol=0)
    torch.testing.assert_close(back['neck'][0][0], neck[0], rtol=0, atol=0)
    assert torch.equal(back['encoder'][1]['key_padding_mask'], mask)
    assert batch_dim('bbox_head') == 1 and batch_dim('encoder.layers.0') == 0


def test_stack_casts_floats_to_float32_only():
    entries = [{'x': ((torch.ones(2).half(), torch.ones(2, dtype=torch.bool)), None)}] * 3
    (x, mask), _ = stack_images(entries, torch.device('cpu'))['x']
    assert x.dtype == torch.float32 and x.shape == (3, 2) and mask.dtype == torch.bool


def test_output_without_batch_dimension_is_refused():
    with pytest.raises(ValueError, match='no batch dimension of size 2'):
        split_batch({'encoder': (torch.randn(3, 4), None)}, 2)
    with pytest.raises(TypeError, match='holds a object'):
        split_batch({'encoder': (object(), None)}, 2)
