"""tools/analysis/get_flops.py: params / FLOPs table of any config."""
import re

import pytest
from mmengine.config import Config

from mmdet.registry import MODELS
from ...conftest import REPO, load_tool
from ...models.amalgamators.tiny_setup import student_cfg

SHAPES_RAW = f'{REPO}/configs/baselines/conditional-detr_r18tiny_1xb16-30e_shapes.py'


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/get_flops')


def test_table_of_students_teachers_and_baseline(tool, tiny_ka, tmp_path, capsys):
    out = tmp_path / 'flops.md'
    rows = tool.main([tiny_ka['config'], tiny_ka['slim_config'], '--teachers',
                      '--shape', '64', '96', '--out', str(out)])
    assert [r['role'] for r in rows] == ['student', 'teacher 1', 'teacher 2'] * 2
    assert all(r['shape'] == (64, 96) and r['flops'] > 0 for r in rows)
    # Params are all of the built model's parameters.
    student = MODELS.build(student_cfg())
    assert rows[0]['params'] == sum(p.numel() for p in student.parameters())
    # Compression halves the encoder and decoder memory: fewer FLOPs, same params.
    ext, slim = rows[0], rows[3]
    assert slim['flops'] < ext['flops'] and slim['params'] == ext['params']
    printed = capsys.readouterr().out
    text = out.read_text()
    assert tool.table(rows) in printed and tool.table(rows) in text
    numbers = [float(x) for x in re.findall(r'\| ([0-9.]+) [MG] ', text)]
    assert len(numbers) == 2 * len(rows) and min(numbers) > 0


def test_default_shape_comes_from_the_test_pipeline(tool):
    rows = tool.main([SHAPES_RAW])
    assert rows[0]['shape'] == (128, 128) and rows[0]['role'] == 'detector'
    model = MODELS.build(Config.fromfile(SHAPES_RAW).model)
    assert rows[0]['params'] == sum(p.numel() for p in model.parameters())


def test_ensemble_counts_its_teachers(tool, tiny_ka, tmp_path):
    cfg = Config.fromfile(tiny_ka['config'])
    cfg.model = dict(type='TeacherEnsemble', teachers=tiny_ka['teachers'],
                     classes=cfg.model.classes)
    cfg.dump(str(tmp_path / 'ens.py'))
    rows = tool.main([str(tmp_path / 'ens.py'), '--shape', '64'])
    assert [r['role'] for r in rows] == ['teacher 1', 'teacher 2', 'ensemble (sum)']
    assert rows[2]['params'] == rows[0]['params'] + rows[1]['params']


def test_bad_arguments_are_named(tool, tmp_path):
    with pytest.raises(SystemExit):
        tool.parse_args([SHAPES_RAW, '--shape', '1', '2', '3'])
    with pytest.raises(FileNotFoundError, match='nope.py'):
        tool.main([str(tmp_path / 'nope.py')])
