"""tools/analysis/compression_agreement.py: P_slim on X_T (training) vs on X_S (evaluation)."""
import numpy as np
import pytest
from mmengine.config import Config

from ...conftest import load_tool
from mmka.utils.analysis import (build_ka_student, build_teachers, load_config, load_items,
                                 preprocess)
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


def test_agreement_is_one_when_the_student_projects_like_its_teachers(tool, tiny_ka):
    """A student whose projections reproduce the teachers' X_T keeps the same tokens under
    both rules; shuffling its segments makes them disagree."""
    cfg = load_config(tiny_ka['slim_config'])
    student = build_ka_student(cfg, tiny_ka['slim_checkpoint'])
    teachers = [model for model, _ in build_teachers(cfg)]
    data = preprocess(student, load_items(cfg, 2))
    teacher_maps = [t.extract_feat(data['inputs'])[-1] for t in teachers]
    student.extract_feat = lambda inputs: tuple(teacher_maps)
    np.testing.assert_array_equal(tool.batch_agreement(student, teachers, data), [1.0, 1.0])
    # Segments swapped: eq. 8's mean is over the whole sequence, so every redundancy stays
    # the same and Alg. 1 picks the other segment at every position.
    student.extract_feat = lambda inputs: tuple(teacher_maps[::-1])
    np.testing.assert_array_equal(tool.batch_agreement(student, teachers, data), [0.0, 0.0])


def test_config_without_teachers_is_refused(tool, tiny_ka, tmp_path):
    cfg = Config.fromfile(tiny_ka['slim_config'])
    cfg.model.teachers = []
    cfg.dump(str(tmp_path / 'no_teachers.py'))
    with pytest.raises(ValueError, match='has no teachers'):
        tool.main([str(tmp_path / 'no_teachers.py'), tiny_ka['slim_checkpoint'],
                   '--out', str(tmp_path / 'a.png')])
