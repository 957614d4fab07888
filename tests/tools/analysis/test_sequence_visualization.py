"""tools/analysis/sequence_visualization.py: per-segment sequences (Fig. 7)."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from ...conftest import REPO, load_tool
from ...models.amalgamators.tiny_setup import T1, T2, tiny_model_cfg
from ...models.detectors.dino_setup import save_dino_teacher, tiny_dino_ka_model
from mmka.utils import set_data_root
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
    kept = torch.tensor([[0, 1, 0, 1]])  # positions 1 and 3 from the second segment
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


@pytest.fixture(scope='module')
def tiny_dino_ka(shapes_root, tmp_path_factory):
    """Tiny DINO amalgamations on disk ({'': full, 'slim': compressed}: config, checkpoint)."""
    root = tmp_path_factory.mktemp('dino_sequences')
    teachers = [save_dino_teacher(root / f't{i}.pth', part, i)
                for i, part in enumerate((T1, T2), 1)]
    paths = {}
    for kind, config in (('', 'shapes_2t_dino.py'), ('slim', 'shapes_2t_dino-slim.py')):
        cfg = set_data_root(Config.fromfile(f'{REPO}/configs/ka/{config}'), shapes_root)
        cfg.model = tiny_dino_ka_model(cfg.model, teachers)
        cfg.dump(str(root / f'ka{kind}.py'))
        torch.manual_seed(3)
        student = MODELS.build(dict(cfg.model.student))
        student.init_weights()
        torch.save(dict(state_dict={f'student.{k}': v for k, v in student.state_dict().items()},
                        meta=dict()), str(root / f'ka{kind}.pth'))
        paths[kind] = (str(root / f'ka{kind}.py'), str(root / f'ka{kind}.pth'))
    return paths


def test_multiscale_models_show_one_level(tool, tiny_dino_ka, tmp_path):
    """DINO teachers and a KADINOStudent: every row on the chosen level's map (strides 8 /
    16 / 32 at 128 px: 16 x 16, 8 x 8, 4 x 4); a slim student's kept segments too."""
    config, checkpoint = tiny_dino_ka['']
    rows = tool.main([config, checkpoint, '--out', str(tmp_path / 'a.png'), '--layers', 'proj',
                      'last', '--level', '1'])
    assert len(rows) == 4 and all(len(r) == 2 for r in rows)
    assert all(m.shape == (8, 8) and np.isfinite(m).all() for r in rows for m in r)
    config, checkpoint = tiny_dino_ka['slim']
    out = tmp_path / 'b.png'
    rows = tool.main([config, checkpoint, '--out', str(out), '--layers', 'last', '--level',
                      '2', '--no-teachers'])
    assert_png(out)
    assert [m.shape for r in rows for m in r] == [(4, 4)]
    with pytest.raises(ValueError, match='--level 3: KADINOStudent reads 3 feature level'):
        tool.main([config, checkpoint, '--out', str(out), '--level', '3'])


def test_single_scale_models_have_one_level(tool, tiny_ka, tmp_path):
    with pytest.raises(ValueError, match='--level 1: KAConditionalDETRStudent reads 1 '):
        tool.main([tiny_ka['config'], tiny_ka['checkpoint'], '--level', '1',
                   '--out', str(tmp_path / 'a.png')])
