"""benchmarks/compression_mismatch.py: a slim row's checkpoint evaluated on both P_slim rules."""
import pytest

from .test_reproduce_table1 import load


def test_slim_rows_are_evaluated_both_ways_and_reported(quick_dino_slim_rows, tmp_path):
    bench = load('compression_mismatch')
    common, rows = quick_dino_slim_rows
    out = tmp_path / 'mismatch.md'
    records = bench.main(common + ['--num-images', '5', '--out', str(out)])
    # By default the teacher-guided slim rows: Student_slim (the isometric, random and
    # student-guided ones keep tokens by one rule in both stages).
    assert [(r['row'], r['seed']) for r in records] == [('Student_slim', 0)]
    record = records[0]
    assert record['ap_student_rule'] == pytest.approx(
        rows['Student_slim'][0]['metrics']['coco/bbox_mAP'])  # Table I's evaluation
    assert 0 <= record['ap_teacher_rule'] <= 1 and 0 <= record['agreement'] <= 1
    assert 0 <= record['redundant'] <= 1 and 0 <= record['student_redundant'] <= 1
    assert record['student_ap'] == rows['Student'][0]['metrics']['coco/bbox_mAP']
    text = out.read_text()
    assert text.startswith('# The train / evaluation token mismatch of the slim student')
    assert '`python benchmarks/compression_mismatch.py --family dino' in text
    assert '| Student_slim | 0 |' in text and 'agreement over 5 val images' in text
    assert '| R > 0.5, slim / Student |' in text
    with pytest.raises(ValueError, match="'slim, student guide'.*same rule"):
        bench.main(common + ['--only', 'slim, student guide', '--out', str(out)])


def test_argument_errors_are_clear(capsys):
    bench = load('compression_mismatch')
    for argv, message in ((['--num-images', '0'], '--num-images must be >= 1'),
                          (['--family', 'dino', '--only'], 'name at least one slim row')):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
        assert message in capsys.readouterr().err
