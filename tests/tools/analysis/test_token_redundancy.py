"""tools/analysis/token_redundancy.py: the Fig. 6a histogram of a KA student's X_S."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from ...conftest import load_tool
from ...models.amalgamators.tiny_setup import student_cfg, tiny_model_cfg
from ...models.detectors.dino_setup import batch as dino_batch
from ...models.detectors.dino_setup import tiny_dino_cfg
from mmka.models.amalgamation_hooks.recorder import OutputRecorder
from mmka.models.amalgamation_hooks.sequence_utils import (map_to_tokens, neck_tokens,
                                                           valid_token_mask)
from mmka.models.layers.sequence_compression import token_redundancy
from mmka.utils.analysis import (build_ka_student, extended_redundancy, load_config,
                                 load_items, preprocess)
from .conftest import assert_png, save_student

TOKENS = 64  # 128 px images, stride 16: an 8 x 8 map per segment


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/token_redundancy')


def test_histogram_from_an_amalgamation_config(tool, tiny_ka, tmp_path):
    out = tmp_path / 'r.png'
    values = tool.main([tiny_ka['config'], tiny_ka['checkpoint'], '--out', str(out),
                        '--num-images', '3', '--batch-size', '2'])
    assert_png(out)
    r = values['redundancy']
    assert r.shape == (3 * 2 * TOKENS, ) and np.all((r >= -1) & (r <= 1))
    # Algorithm 1 keeps exactly one of the N = 2 segments at each position.
    assert values['kept'].sum() == 3 * TOKENS
    assert np.bincount(values['segment']).tolist() == [3 * TOKENS] * 2


def test_values_are_eq8_on_the_sequence_the_student_encodes(tiny_ka):
    """Cross-check on another path: the projections the student's own forward produces
    (forward hooks on neck.{t}), and the tokens a compressing student really keeps."""
    cfg = load_config(tiny_ka['slim_config'])
    student = build_ka_student(cfg, tiny_ka['slim_checkpoint'])
    data = preprocess(student, load_items(cfg, 2))
    values = extended_redundancy(student, data)
    recorder = OutputRecorder(student, ['neck.0', 'neck.1'])
    with torch.no_grad():
        student.predict(data['inputs'], data['data_samples'])
    seq = torch.cat([neck_tokens(recorder['neck.0']), neck_tokens(recorder['neck.1'])], 1)
    np.testing.assert_allclose(values['redundancy'], token_redundancy(seq).flatten().numpy(),
                               atol=1e-6)
    kept = torch.zeros(seq.shape[:2], dtype=torch.bool)
    kept.scatter_(1, student.last_kept_indices, True)
    assert np.array_equal(values['kept'], kept.flatten().numpy())


def test_multiscale_student_is_measured_level_by_level():
    """KADINOStudent: eq. 8 within each level's N·n_l tokens (the sequence its Alg. 1
    runs on), and the tokens its own forward keeps, on a padded batch."""
    torch.manual_seed(0)
    student = MODELS.build(dict(tiny_dino_cfg(32, num_classes=4), type='KADINOStudent',
                                num_teachers=2, compression=dict(strategy='redundancy')))
    student.init_weights()
    student.eval()
    inputs, samples = dino_batch(padded=True)
    values = extended_redundancy(student, dict(inputs=inputs, data_samples=samples))
    recorder = OutputRecorder(student, ['neck.0', 'neck.1'])
    with torch.no_grad():
        student.predict(inputs, samples)
    kept_all = torch.zeros(2, student.last_kept_indices.size(1) * 2, dtype=torch.bool)
    kept_all.scatter_(1, student.last_kept_indices, True)  # (B, N·n), segment-major
    n, start, padded = kept_all.size(1) // 2, 0, 0
    levels = student.num_feature_levels
    assert sorted(set(values['level'])) == list(range(levels))
    for level in range(levels):
        maps = [recorder[f'neck.{t}'][level] for t in range(2)]
        size = maps[0].shape[-2:].numel()
        seq = torch.cat([map_to_tokens(m) for m in maps], 1)
        valid = valid_token_mask(samples, [maps[0].shape[-2:]], seq.device).repeat(1, 2)
        ours = values['level'] == level
        np.testing.assert_allclose(values['redundancy'][ours],
                                   token_redundancy(seq, ~valid)[valid].numpy(), atol=1e-6)
        index = (torch.arange(2)[:, None] * n + start + torch.arange(size)).flatten()
        assert np.array_equal(values['kept'][ours], kept_all[:, index][valid].numpy())
        start += size
        padded += int((~valid).sum())
    assert padded > 0 and values['redundancy'].size == 2 * kept_all.size(1) - padded


def test_standalone_student_with_segment_split(tool, tiny_ka, tmp_path, shapes_root):
    cfg = Config.fromfile(tiny_ka['config'])
    cfg.model = student_cfg()
    cfg.dump(str(tmp_path / 'student.py'))
    ckpt = save_student(tmp_path / 'student.pth', prefix='')  # as extract_student writes
    out = tmp_path / 'r.png'
    tool.main([str(tmp_path / 'student.py'), ckpt, '--out', str(out), '--num-images', '2',
               '--split', 'segment', '--data-root', shapes_root])
    assert_png(out)


def test_non_ka_student_is_rejected_by_name(tool, tiny_ka, tmp_path):
    cfg = Config.fromfile(tiny_ka['config'])
    cfg.model = tiny_model_cfg(20)
    cfg.dump(str(tmp_path / 'plain.py'))
    with pytest.raises(ValueError, match='ConditionalDETRAnyDim has no extended sequence'):
        tool.main([str(tmp_path / 'plain.py'), tiny_ka['checkpoint'], '--out',
                   str(tmp_path / 'r.png')])
    assert not (tmp_path / 'r.png').exists()


def test_bad_checkpoints_are_named(tool, tiny_ka, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.main([tiny_ka['config'], str(tmp_path / 'missing.pth')])
    teacher_ckpt = tiny_ka['teachers'][0]['checkpoint']
    with pytest.raises(ValueError, match='Cannot load checkpoint .*t1.pth.* into '
                       'KAConditionalDETRStudent'):
        tool.main([tiny_ka['config'], teacher_ckpt])
