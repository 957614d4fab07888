"""tools/misc/generate_shapes.py: the data of the configs, class-agnostic copies on request."""
import json

from ..conftest import load_tool


def test_class_agnostic_flag_writes_one_class_copies_of_both_splits(tmp_path, capsys):
    tool = load_tool('misc/generate_shapes')
    args = [str(tmp_path / 'd'), '--num-train', '4', '--num-val', '2', '--image-size', '64',
            '--seed', '1']
    tool.main(args)
    assert not (tmp_path / 'd/annotations/instances_train_agnostic.json').exists()
    tool.main(args + ['--class-agnostic'])  # the data is up to date: only the copies
    assert 'train: 4 images' in capsys.readouterr().out
    for split in ('train', 'val'):
        full = json.loads((tmp_path / f'd/annotations/instances_{split}.json').read_text())
        agnostic = json.loads(
            (tmp_path / f'd/annotations/instances_{split}_agnostic.json').read_text())
        assert agnostic['categories'] == [dict(id=1, name='shape')]
        assert [a['bbox'] for a in agnostic['annotations']] == \
            [a['bbox'] for a in full['annotations']]
        assert len({a['category_id'] for a in full['annotations']}) > 1
