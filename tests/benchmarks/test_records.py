"""benchmarks/records.py: evaluations kept in the repository, found where work dirs are not."""
import json
import os.path as osp
import sys

from ..conftest import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import records  # noqa: E402


def test_weights_fingerprint_names_the_weights_not_the_file(tmp_path):
    """Same weights, other file contents (meta, optimizer): one fingerprint; one weight
    changed, or a bf16 copy, another."""
    import torch
    weights = {'w': torch.arange(6.).reshape(2, 3), 'b': torch.zeros(2)}
    paths = [str(tmp_path / f'{i}.pth') for i in range(4)]
    torch.save(dict(state_dict=weights, meta=dict(time='09:00')), paths[0])
    torch.save(dict(meta=dict(time='10:00'), optimizer={'lr': 1}, state_dict=weights), paths[1])
    torch.save(dict(state_dict=dict(weights, b=torch.tensor([0., 1e-6]))), paths[2])
    torch.save(dict(state_dict={k: v.bfloat16() for k, v in weights.items()}), paths[3])
    prints = [records.weights_fingerprint(p) for p in paths]
    assert prints[0] == prints[1] and len(set(prints)) == 3
    assert len(prints[0]) == 10 and int(prints[0], 16) >= 0


def test_a_record_is_found_once_the_work_dir_is_gone(tmp_path):
    work, root = tmp_path / 'work' / 'raw-seed0-0123456789', str(tmp_path / 'records')
    assert records.load(str(work), 'result-x.json', root) is None
    assert not records.exists(str(work), 'result-x.json', root)
    records.save(str(work), 'result-x.json', dict(ap=0.5), root)
    committed = tmp_path / 'records' / 'raw-seed0-0123456789' / 'result-x.json'
    assert json.loads(committed.read_text()) == dict(ap=0.5)
    (work / 'result-x.json').unlink()  # another machine: no cache here, the record is
    assert records.exists(str(work), 'result-x.json', root)
    assert records.load(str(work), 'result-x.json', root) == dict(ap=0.5)
    assert json.loads((work / 'result-x.json').read_text()) == dict(ap=0.5)  # copied back


def test_the_work_dir_wins_and_no_root_means_no_records(tmp_path):
    work, root = str(tmp_path / 'w'), str(tmp_path / 'records')
    records.save(work, 'curve.json', dict(v=1), root)
    records.save(work, 'curve.json', dict(v=2), None)  # only the work dir
    assert records.load(work, 'curve.json', root) == dict(v=2)
    assert records.load(str(tmp_path / 'elsewhere'), 'curve.json', None) is None
    assert records.record_path(work + '/', 'curve.json', root) == osp.join(root, 'w',
                                                                            'curve.json')


def test_summary_lists_each_record_with_its_ap_and_origin(tmp_path):
    root = str(tmp_path / 'records')
    metrics = {'coco/bbox_mAP': 0.776, 'coco/T1_bbox_mAP': 0.789, 'coco/T1_bbox_mAP_50': 0.95,
               'coco/T2_bbox_mAP': 0.763}
    records.save(str(tmp_path / 'w' / 'dino-raw-seed0-abc'), 'result-x.json',
                 dict(metrics=metrics, curve=[[24, 0.77, 0.9]], train_seconds=600, mmka='c0ffee1',
                      machine='AMD EPYC, 2 cores', date='2026-12-02'), root)
    records.save(str(tmp_path / 'w' / 'e48-seed0-def'), 'curve.json',
                 dict(curve=[[48, 0.506, None]], train_seconds=3900,
                      imported_from='old.md at 35973e5'), root)
    lines = records.summary(root).splitlines()
    # The evaluation's AP, not the curve's, and each partition's.
    assert lines[2] == ('| dino-raw-seed0-abc | result-x.json | 77.6 | T1 78.9, T2 76.3 | 24 | '
                        '10 | mmka c0ffee1, AMD EPYC, 2 cores, 2026-12-02 |')
    assert lines[3] == ('| e48-seed0-def | curve.json | 50.6 | — | 48 | 65 | imported from old.md '
                        'at 35973e5 |')
    assert len(records.summary(root, ['e48']).splitlines()) == 3
