"""tools/analysis/compression_agreement.py: P_slim on X_T (training) vs on X_S (evaluation)."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from ...conftest import load_tool
from ...models.amalgamators.tiny_setup import T1, T2
from ...models.detectors.dino_setup import batch as dino_batch
from ...models.detectors.dino_setup import save_dino_teacher, tiny_dino_cfg
from mmka.models.amalgamators import build_frozen_teacher
from mmka.utils.analysis import (build_ka_student, build_teachers, compression_agreement,
                                 load_config, load_items, preprocess)
from .conftest import assert_png


@pytest.fixture(scope='module')
def tool():
    return load_tool('analysis/compression_agreement')


def test_writes_histogram_and_agreement_in_range(tool, tiny_ka, tmp_path):
    out = tmp_path / 'a.png'
    values = tool.main([tiny_ka['slim_config'], tiny_ka['slim_checkpoint'], '--out', str(out),
                        '--num-images', '3', '--batch-size', '2'])
    assert_png(out)
    agreement = values['agreement']
    assert agreement.shape == (3, ) and np.all((agreement >= 0) & (agreement <= 1))


def test_agreement_is_one_when_the_student_projects_like_its_teachers(tiny_ka):
    """A student whose projections reproduce the teachers' X_T keeps the same tokens under
    both rules; shuffling its segments makes them disagree."""
    cfg = load_config(tiny_ka['slim_config'])
    student = build_ka_student(cfg, tiny_ka['slim_checkpoint'])
    teachers = [model for model, _ in build_teachers(cfg)]
    data = preprocess(student, load_items(cfg, 2))
    teacher_maps = [t.extract_feat(data['inputs'])[-1] for t in teachers]
    student.extract_feat = lambda inputs: tuple(teacher_maps)
    np.testing.assert_array_equal(compression_agreement(student, teachers, data), [1.0, 1.0])
    # Segments swapped: eq. 8's mean is over the whole sequence, so every redundancy stays
    # the same and Alg. 1 picks the other segment at every position.
    student.extract_feat = lambda inputs: tuple(teacher_maps[::-1])
    np.testing.assert_array_equal(compression_agreement(student, teachers, data), [0.0, 0.0])


def test_config_without_teachers_is_refused(tool, tiny_ka, tmp_path):
    cfg = Config.fromfile(tiny_ka['slim_config'])
    cfg.model.teachers = []
    cfg.dump(str(tmp_path / 'no_teachers.py'))
    with pytest.raises(ValueError, match='has no teachers'):
        tool.main([str(tmp_path / 'no_teachers.py'), tiny_ka['slim_checkpoint'],
                   '--out', str(tmp_path / 'a.png')])


def _dino_student_and_teachers(tmp_path):
    """A slim tiny KADINOStudent and its two frozen tiny DINO teachers."""
    teachers = [build_frozen_teacher(**save_dino_teacher(tmp_path / f't{i}.pth', part, i))[0]
                for i, part in enumerate((T1, T2), 1)]
    torch.manual_seed(3)
    student = MODELS.build(dict(tiny_dino_cfg(32, num_classes=len(T1 + T2)),
                                type='KADINOStudent', num_teachers=2,
                                compression=dict(strategy='redundancy')))
    student.init_weights()
    return student.eval(), teachers


def test_multiscale_agreement_runs_alg1_per_level_on_both_rules(tmp_path):
    """KADINOStudent: the same checks through the student's own per-level selection, on a
    padded batch (the second image's padding is left out of its share)."""
    student, teachers = _dino_student_and_teachers(tmp_path)
    inputs, samples = dino_batch(padded=True)
    data = dict(inputs=inputs, data_samples=samples)
    levels = student.num_feature_levels
    teacher_maps = [m for t in teachers for m in t.extract_feat(inputs)[-levels:]]
    student.extract_feat = lambda inputs: tuple(teacher_maps)
    np.testing.assert_array_equal(compression_agreement(student, teachers, data), [1.0, 1.0])
    swapped = teacher_maps[levels:] + teacher_maps[:levels]
    student.extract_feat = lambda inputs: tuple(swapped)
    np.testing.assert_array_equal(compression_agreement(student, teachers, data), [0.0, 0.0])
    assert not student.training and student.last_kept_indices is not None
    # Its own projections: a share in [0, 1] per image, and the eval-mode choice unchanged.
    del student.extract_feat
    agreement = compression_agreement(student, teachers, data)
    assert agreement.shape == (2, ) and np.all((agreement >= 0) & (agreement <= 1))


def test_uncompressed_student_is_refused(tool, tiny_ka, tmp_path):
    with pytest.raises(ValueError, match='is not compressed'):
        tool.main([tiny_ka['config'], tiny_ka['checkpoint'], '--out', str(tmp_path / 'a.png')])


def test_teachers_choose_in_the_precision_training_ran_them_in(tiny_ka):
    """``teacher_dtype='bfloat16'``: the student chooses on X_T as the amalgamator computes
    it in training (bf16 teachers under autocast), not on a float32 X_T."""
    cfg = load_config(tiny_ka['slim_config'])
    student = build_ka_student(cfg, tiny_ka['slim_checkpoint'])
    teachers = [model for model, _ in build_teachers(cfg)]
    data = preprocess(student, load_items(cfg, 2))
    guides = []
    choose = student.compression_guide

    def recording_guide(guide):
        guides.append(guide)
        return choose(guide)

    student.compression_guide = recording_guide
    compression_agreement(student, teachers, data)
    compression_agreement(student, teachers, data, 'bfloat16')
    assert [g.dtype for g in guides] == [torch.float32, torch.bfloat16]
    assert not any(g.requires_grad for g in guides)  # the teachers ran without autograd
    with pytest.raises(ValueError, match="teacher_dtype must be one of.*'float64'"):
        compression_agreement(student, teachers, data, 'float64')
