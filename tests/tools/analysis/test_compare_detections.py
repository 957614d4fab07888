"""tools/analysis/compare_detections.py: teachers vs student detections (Fig. 5)."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from ...conftest import load_tool
from ...models.amalgamators.tiny_setup import CLASSES, T1, T2, student_cfg
from .conftest import assert_png


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/compare_detections')


def test_grid_of_teachers_and_student(tool, tiny_ka, tmp_path):
    out = tmp_path / 'det.png'
    counts = tool.main([tiny_ka['config'], tiny_ka['checkpoint'], '--out', str(out),
                        '--num-images', '2', '--score-thr', '0'])
    assert_png(out, min_bytes=20000)
    assert np.array(counts).shape == (2, 3)  # rows: images; columns: T1, T2, Student
    assert np.all(np.array(counts) > 0)


def test_boxes_are_named_by_their_models_classes_and_drawn_on_the_input(tool):
    sample = DetDataSample(metainfo=dict(scale_factor=(0.5, 0.5)))
    sample.pred_instances = InstanceData(bboxes=torch.tensor([[10., 20., 50., 60.]] * 2),
                                         labels=torch.tensor([3, 1]),
                                         scores=torch.tensor([0.9, 0.1]))
    fig, ax = plt.subplots()
    drawn = tool.draw(ax, np.zeros((64, 64, 3), np.uint8), sample, T2, ['r'] * len(T2), 0.3)
    assert drawn == 1 and [t.get_text() for t in ax.texts] == [f'{T2[3]} 0.90']
    assert ax.patches[0].get_xy() == (5., 10.)  # original-image box scaled to the input
    plt.close(fig)


def test_student_boxes_take_their_teachers_colour(tool):
    colours = tool.student_colours(CLASSES + ('unowned', ), [T1, T2])
    assert colours[:len(T1)] == [tool.PALETTE[0]] * len(T1)
    assert colours[len(T1):len(CLASSES)] == [tool.PALETTE[1]] * len(T2)
    assert colours[-1] == tool.OTHER


def test_config_without_teachers_is_rejected(tool, tiny_ka, tmp_path):
    cfg = Config.fromfile(tiny_ka['config'])
    cfg.model = student_cfg()
    cfg.dump(str(tmp_path / 'student.py'))
    with pytest.raises(ValueError, match='KAConditionalDETRStudent.*has no teachers'):
        tool.main([str(tmp_path / 'student.py'), tiny_ka['checkpoint']])
