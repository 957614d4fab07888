"""The README's main job, at a tiny size: teachers, student, evaluation table."""
import os.path as osp
import re

import pytest

from mmka.utils import native_bf16

from ..conftest import load_tool

TINY = ['--num-train', '24', '--num-val', '12', '--teacher-epochs', '1', '--student-epochs', '1']


def test_demo_runs_the_whole_pipeline_and_reuses_checkpoints(tmp_path, capsys):
    demo = load_tool('demo')
    args = ['--work-dir', str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data')] + TINY
    md = tmp_path / 'results' / 'demo.md'
    results = demo.main(args + ['--out', str(md)])
    assert list(results) == ['Teacher_1', 'Teacher_2', 'Ensemble', 'Student']
    text = md.read_text()
    assert text.startswith('# Demo: shapes_2t, conditional-detr\n')
    assert f"Command: `python tools/demo.py {' '.join(args)} --out {md}`" in text
    assert '; seed 0; teachers ' in text and 'every model trained by this run.' in text
    assert re.search(r'Minutes: data [\d.]+, teachers [\d.]+, student [\d.]+, evaluation '
                     r'[\d.]+, total [\d.]+;', text)
    student = results['Student']
    assert (f"| Student | {student['coco/bbox_mAP']:.3f} | {student['coco/bbox_mAP_50']:.3f} | "
            f"{student['coco/bbox_mAP_75']:.3f} | {student['coco/T1_bbox_mAP_50']:.3f} | "
            f"{student['coco/T2_bbox_mAP_50']:.3f} |") in text
    for metrics in results.values():
        for key in ('coco/bbox_mAP_50', 'coco/T1_bbox_mAP_50', 'coco/T2_bbox_mAP_50'):
            assert 0.0 <= metrics[key] <= 1.0
    out = capsys.readouterr().out
    assert 'all 20 classes' in out and 'AP50@T2' in out and 'Student' in out
    assert 'training teacher 2/2' in out and 'teacher 1/2 trained' in out
    assert '[demo] mmka ' in out and '; seed 0 (randomness.seed of every config)' in out
    # Evaluations run the teachers in float32; the student's teachers as use_cheap_teachers
    # picks.
    assert ('; teachers float32 for `Teacher_1`, `Teacher_2`, `Ensemble`; bfloat16 for '
            '`Student`\n' if native_bf16() else
            '; teachers float32\n') in out
    assert (tmp_path / 'work' / 'teacher1' / 'epoch_1.pth').is_file()
    # A second run trains nothing: every checkpoint is reused.
    capsys.readouterr()
    demo.main(args + ['--out', str(md)])
    log = capsys.readouterr().out
    assert '[demo] training' not in log and log.count('[demo] reusing') == 3
    assert 'reused from the work dir (not timed): Teacher_1, Teacher_2, Student.' in \
        md.read_text()


def test_demo_reports_a_failed_teacher_with_its_log(tmp_path):
    demo = load_tool('demo')
    args = ['--work-dir', str(tmp_path / 'work'), '--data-root', str(tmp_path / 'data'),
            '--jobs', '1'] + TINY
    (tmp_path / 'data').mkdir()
    demo.ensure_shapes_dataset(str(tmp_path / 'data'), num_train=24, num_val=12)
    (tmp_path / 'data' / 'train').rename(tmp_path / 'data' / 'moved')  # images gone
    with pytest.raises(RuntimeError, match='teacher 1/2 failed.*train.log'):
        demo.main(args)


def test_bad_arguments_are_named():
    demo = load_tool('demo')
    with pytest.raises(SystemExit):
        demo.parse_args(['--student-epochs', '0'])


def test_demo_with_four_teachers(tmp_path, capsys):
    demo = load_tool('demo')
    results = demo.main(['--partition', 'shapes_4t', '--work-dir', str(tmp_path / 'work'),
                         '--data-root', str(tmp_path / 'data')] + TINY)
    assert list(results) == ['Teacher_1', 'Teacher_2', 'Teacher_3', 'Teacher_4', 'Ensemble',
                             'Student']
    assert 'coco/T4_bbox_mAP_50' in results['Student']
    assert 'AP50@T4' in capsys.readouterr().out


def test_family_picks_its_configs_and_epochs():
    demo = load_tool('demo')
    args = demo.parse_args(['--family', 'dino'])
    assert (args.teacher_epochs, args.student_epochs) == (4, 3)
    assert demo.parse_args(['--family', 'dino', '--student-epochs', '5']).student_epochs == 5
    assert demo.parse_args([]).teacher_epochs == 10
    for family in demo.FAMILIES.values():
        for num in (2, 4):  # both families have 2- and 4-teacher configs
            for key in ('teacher', 'student', 'ensemble'):
                path = family[key].format(*((num, num) if key == 'teacher' else (num, )))
                assert osp.isfile(osp.join(demo.REPO, path)), path
    assert demo.parse_args(['--family', 'dino', '--partition', 'shapes_4t']).family == 'dino'


def test_family_without_configs_for_the_partition_is_refused(monkeypatch, capsys):
    demo = load_tool('demo')
    missing = dict(demo.FAMILIES['dino'], student='configs/ka/shapes_{}t_missing.py')
    monkeypatch.setitem(demo.FAMILIES, 'dino', missing)
    with pytest.raises(SystemExit):
        demo.parse_args(['--family', 'dino', '--partition', 'shapes_4t'])
    assert 'no 4-teacher configs (configs/ka/shapes_4t_missing.py)' in capsys.readouterr().err
