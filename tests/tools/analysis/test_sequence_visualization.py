"""tools/analysis/sequence_visualization.py: per-segment sequences (Fig. 7)."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from ...conftest import load_tool
from ...models.amalgamators.tiny_setup import tiny_model_cfg
from .conftest import assert_png

HW = (8, 8)  # 128 px images, stride 16


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/sequence_visualization')


def test_teacher_and_student_segments_per_layer(tool, tiny_ka, tmp_path):
    out = tmp_path / 'seq.png'
    rows = tool.main([tiny_ka['config'], tiny_ka['checkpoint'], '--out', str(out),
                      '--layers', 'proj', 'last'])
    assert_png(out, min_bytes=20000)
    # One image: (teachers, student) x (proj, last), N = 2 maps each.
    assert len(rows) == 4 and all(len(r) == 2 for r in rows)
    for maps in rows:
        for m in maps:
            assert m.shape == HW and np.isfinite(m).all()


def test_compressed_student_shows_its_kept_segments(tool, tiny_ka, tmp_path):
    out = tmp_path / 'seq.png'
    rows = tool.main([tiny_ka['slim_config'], tiny_ka['slim_checkpoint'], '--out', str(out),
                      '--layers', '0', '--num-images', '2', '--reduce', 'pca',
                      '--no-teachers'])
    assert_png(out)
    assert [len(r) for r in rows] == [1, 1]  # per image: the one compressed sequence


def test_kept_map_names_segments_from_one(tool):
    kept = torch.tensor([[0, 5, 2, 7]])  # n = 4: positions 1 and 3 from segment 2
    assert tool.kept_map(kept, (2, 2)).tolist() == [[1, 2], [1, 2]]


def test_bad_layer_and_non_ka_model_are_named(tool, tiny_ka, tmp_path):
    with pytest.raises(ValueError, match='KAConditionalDETRStudent has 1 encoder layers'):
        tool.main([tiny_ka['config'], tiny_ka['checkpoint'], '--layers', '3'])
    with pytest.raises(ValueError, match="'enc' is not 'proj', 'last'"):
        tool.main([tiny_ka['config'], tiny_ka['checkpoint'], '--layers', 'enc'])
    cfg = Config.fromfile(tiny_ka['config'])
    cfg.model = tiny_model_cfg(20)
    cfg.dump(str(tmp_path / 'plain.py'))
    with pytest.raises(ValueError, match='ConditionalDETRAnyDim has no extended sequence'):
        tool.main([str(tmp_path / 'plain.py'), tiny_ka['checkpoint']])
