"""The Ensemble baseline keeps every teacher's detections (paper Table I's Ensemble row)."""
import copy

import pytest
import torch

from mmdet.registry import MODELS

from .tiny_setup import CLASSES, T1, T2, batch, save_teacher


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('ensemble_teachers')
    return [save_teacher(root / 't1.pth', T1, seed=1), save_teacher(root / 't2.pth', T2, seed=2)]


def test_default_keeps_every_teacher_detection(teachers):
    ensemble = MODELS.build(dict(type='TeacherEnsemble', teachers=teachers, classes=CLASSES))
    ensemble.train()
    assert not any(m.training for m in ensemble.modules())  # inference only
    per_teacher = [t.bbox_head.test_cfg['max_per_img'] for t in ensemble.teachers]
    assert ensemble.max_per_img == sum(per_teacher)
    inputs, samples = batch()
    merged = ensemble(inputs, copy.deepcopy(samples), mode='predict')
    singles = [t.predict(inputs, copy.deepcopy(samples)) for t in ensemble.teachers]
    for b, sample in enumerate(merged):
        pred = sample.pred_instances
        # The union of the teachers' detections, labels renamed by class name, nothing cut.
        expected = sorted(
            (round(s, 6), CLASSES.index(names[l]))
            for single, names in zip(singles, (T1, T2))
            for s, l in zip(single[b].pred_instances.scores.tolist(),
                            single[b].pred_instances.labels.tolist()))
        got = sorted((round(s, 6), l) for s, l in zip(pred.scores.tolist(),
                                                       pred.labels.tolist()))
        assert len(got) == sum(per_teacher) and got == expected
        assert bool((pred.scores[:-1] >= pred.scores[1:]).all())
    with pytest.raises(ValueError, match='only predicts'):
        ensemble(inputs, samples, mode='loss')


def test_explicit_cap_keeps_the_best(teachers):
    capped = MODELS.build(dict(type='TeacherEnsemble', teachers=teachers, classes=CLASSES,
                               max_per_img=7))
    full = MODELS.build(dict(type='TeacherEnsemble', teachers=teachers, classes=CLASSES))
    inputs, samples = batch()
    top = capped(inputs, copy.deepcopy(samples), mode='predict')
    every = full(inputs, copy.deepcopy(samples), mode='predict')
    for a, b in zip(top, every):
        assert len(a.pred_instances) == 7
        torch.testing.assert_close(a.pred_instances.scores, b.pred_instances.scores[:7])
    with pytest.raises(ValueError, match='max_per_img'):
        MODELS.build(dict(type='TeacherEnsemble', teachers=teachers, classes=CLASSES,
                          max_per_img=0))
