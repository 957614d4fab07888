"""benchmarks/compression_grid.py: slim checkpoints evaluated under every test-time rule."""
import pytest

from .test_reproduce_table1 import load


def test_slim_rows_are_evaluated_under_every_rule_and_reported(quick_dino_slim_rows,
                                                               tmp_path):
    bench = load('compression_grid')
    common, rows = quick_dino_slim_rows
    out = tmp_path / 'grid.md'
    # 'slim isometric' and 'slim, student guide' are untrained here: named and skipped.
    records = bench.main(common + ['--out', str(out)])
    assert [(r['row'], r['training_rule']) for r in records] == [
        ('Student_slim', 'redundancy on X_T'), ('slim random', 'random')]
    for record, own_rule in zip(records, ('redundancy', 'random')):
        table_ap = rows[record['row']][0]['metrics']['coco/bbox_mAP']
        assert record['table_ap'] == table_ap
        # The test rule the row trained under is Table I's evaluation, bit for bit.
        assert record['ap'][own_rule] == pytest.approx(table_ap)
        assert set(record['ap']) == {'redundancy', 'isometric', 'random'}
        assert all(0 <= ap <= 1 for ap in record['ap'].values())
    text = out.read_text()
    assert text.startswith('# A slim student under each test-time compression rule')
    assert '`python benchmarks/compression_grid.py --family dino' in text
    assert '| Student_slim | 0 | redundancy on X_T |' in text
    assert '| slim random | 0 | random |' in text
    with pytest.raises(ValueError, match="'Student'.*no rule to swap"):
        bench.main(common + ['--only', 'Student', '--out', str(out)])


def test_argument_errors_are_clear(capsys):
    bench = load('compression_grid')
    with pytest.raises(SystemExit):
        bench.parse_args(['--family', 'dino', '--only'])
    assert 'name at least one slim row' in capsys.readouterr().err
