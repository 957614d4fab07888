"""The README's main job, at a tiny size: teachers, student, evaluation table."""
import pytest

from ..conftest import load_tool


def test_demo_runs_the_whole_pipeline_and_reuses_checkpoints(tmp_path, capsys):
    demo = load_tool('demo')
    args = ['--work-dir', str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data'),
            '--num-train', '24', '--num-val', '12', '--teacher-epochs', '1',
            '--student-epochs', '1']
    results = demo.main(args)
    assert list(results) == ['Teacher_1', 'Teacher_2', 'Ensemble', 'Student']
    for metrics in results.values():
        assert 0.0 <= metrics['coco/bbox_mAP_50'] <= 1.0
    out = capsys.readouterr().out
    assert 'all 20 classes' in out and 'Student' in out
    # A second run trains nothing: every checkpoint is reused.
    demo.main(args)
    out = capsys.readouterr().out
    assert '[demo] training' not in out and out.count('[demo] reusing') == 3
