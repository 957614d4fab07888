"""mmka.utils.analysis: the plumbing the analysis tools share."""
import copy

import pytest
import torch
from mmengine.config import Config

from ...conftest import REPO
from ...models.amalgamators.tiny_setup import student_cfg
from mmka.utils.analysis import (build_detector, build_ka_student, build_teachers,
                                 dataset_classes, detector_cfg, image_rgb, load_config, load_items, predict)


def test_detector_cfg_picks_the_student_without_touching_the_config(tiny_ka):
    cfg = load_config(tiny_ka['config'])
    cfg.model.student.pop('data_preprocessor')
    cfg.model.data_preprocessor = dict(type='DetDataPreprocessor', bgr_to_rgb=True)
    before = copy.deepcopy(cfg.model.to_dict())
    student = detector_cfg(cfg)
    assert student['type'] == 'KAConditionalDETRStudent'
    assert student['data_preprocessor'] == cfg.model.data_preprocessor  # the one it ran with
    student['num_teachers'] = 5
    assert cfg.model.to_dict() == before


def test_teacher_ensemble_has_no_single_detector(tiny_ka):
    cfg = Config(dict(model=dict(type='TeacherEnsemble', teachers=tiny_ka['teachers'])))
    with pytest.raises(ValueError, match='TeacherEnsemble'):
        detector_cfg(cfg)


def test_amalgamation_and_standalone_checkpoints_load_alike(tiny_ka, tmp_path):
    amalgamated = build_detector(student_cfg(), tiny_ka['checkpoint'])
    state = {k: v for k, v in amalgamated.state_dict().items()}
    torch.save(dict(state_dict=state), str(tmp_path / 'plain.pth'))
    standalone = build_detector(student_cfg(), str(tmp_path / 'plain.pth'))
    for key, value in standalone.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_amalgamation_checkpoints_leave_their_hooks_training_parameters_out(tmp_path):
    """A SAG amalgamator's checkpoint holds its projections (``hooks.*``) beside the student:
    the student loads, strictly; any other stray key is still an error."""
    student = build_detector(student_cfg())
    state = {f'student.{k}': v for k, v in student.state_dict().items()}
    state['hooks.0.projections.neck.0.weight'] = torch.zeros(2, 2)
    torch.save(dict(state_dict=state), str(tmp_path / 'sag.pth'))
    loaded = build_detector(student_cfg(), str(tmp_path / 'sag.pth'))
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[f'student.{key}']), key
    state['student.stray'] = torch.zeros(1)
    torch.save(dict(state_dict=state), str(tmp_path / 'stray.pth'))
    with pytest.raises(ValueError, match='stray'):
        build_detector(student_cfg(), str(tmp_path / 'stray.pth'))


def test_items_and_predictions_per_model(tiny_ka, shapes_root):
    cfg = load_config(tiny_ka['config'], data_root=shapes_root)
    items = load_items(cfg, 2, start=1)
    assert len(items) == 2 and image_rgb(items[0]).shape == (128, 128, 3)
    assert dataset_classes(cfg) == tuple(cfg.model.classes)
    (teacher, classes), _ = build_teachers(cfg)
    preds = predict(teacher, items)
    assert int(preds[0].pred_instances.labels.max()) < len(classes)
    assert 'pred_instances' not in items[0]['data_samples']  # the items stay untouched
    with pytest.raises(ValueError, match='start=99 is outside the test dataset'):
        load_items(cfg, 1, start=99)


def test_multiscale_students_are_ka_students(tmp_path):
    """A KADINOStudent passes the type check (which comes before the checkpoint is read)."""
    cfg = load_config(f'{REPO}/configs/ka/shapes_2t_dino-slim.py')
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        build_ka_student(cfg, str(tmp_path / 'absent.pth'))
