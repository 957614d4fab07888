"""Class-agnostic copies of COCO annotation files, for pre-training a detector on boxes only.

The paper's teachers start from UP-DETR pre-training (unsupervised, on ImageNet) and its
students do not (``../shared/seeds/authors_code.md``). A class-agnostic pre-training on other
images is the embedded benchmark's stand-in for it: the detector learns where objects are,
not what they are, and the teachers fine-tune from it (``benchmarks/reproduce_table1.py
--teacher-init pretrained``).
"""
import json
import os
import os.path as osp
from typing import List, Sequence, Union


def write_class_agnostic_annotations(ann_file: Union[str, os.PathLike],
                                     out_file: Union[str, os.PathLike],
                                     name: str = 'object') -> dict:
    """Write ``ann_file`` with one category, ``name`` (id 1), for every annotation.

    Images, boxes, areas and crowd flags are copied unchanged; only ``category_id`` becomes
    1 and ``categories`` becomes ``[{'id': 1, 'name': name}]``.

    Args:
        ann_file (str | PathLike): a COCO-format annotation file.
        out_file (str | PathLike): where to write the class-agnostic copy (its folder is
            created); may not be ``ann_file`` itself.
        name (str): the one category's name, which a config's ``metainfo=dict(classes=
            (name, ))`` then selects. Defaults to ``'object'``.

    Returns:
        dict: the written annotations.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f'name must be a non-empty str (the category of every box), got '
                        f'{name!r}.')
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'Annotation file {str(ann_file)!r} does not exist.')
    if osp.abspath(ann_file) == osp.abspath(out_file):
        raise ValueError(f'out_file {str(out_file)!r} is ann_file: write the class-agnostic '
                         'copy to another file, the original keeps the classes.')
    with open(ann_file) as f:
        coco = json.load(f)
    coco['annotations'] = [dict(a, category_id=1) for a in coco.get('annotations', [])]
    coco['categories'] = [dict(id=1, name=name)]
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'w') as f:
        json.dump(coco, f)
    return coco


def write_class_agnostic_splits(data_root: Union[str, os.PathLike],
                                splits: Sequence[str] = ('train', 'val'),
                                name: str = 'object') -> List[str]:
    """:func:`write_class_agnostic_annotations` for the COCO layout's splits:
    ``<data_root>/annotations/instances_<split>.json`` to ``instances_<split>_agnostic.json``
    beside it. Returns the written paths, in the order of ``splits``."""
    if isinstance(splits, str):
        raise TypeError(f'splits must be a sequence of split names, e.g. ("train", "val"), '
                        f'got the str {splits!r}.')
    out = []
    for split in splits:
        ann_file = osp.join(data_root, 'annotations', f'instances_{split}.json')
        out.append(osp.join(data_root, 'annotations', f'instances_{split}_agnostic.json'))
        write_class_agnostic_annotations(ann_file, out[-1], name)
    return out
