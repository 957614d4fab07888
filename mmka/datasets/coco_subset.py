"""COCO-format dataset restricted to a named class subset, with checks that say what is wrong."""
import os.path as osp
from typing import List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS


@DATASETS.register_module()
class CocoSubsetDataset(CocoDataset):
    """mmdet's :class:`CocoDataset`, failing early and clearly on a bad path or class list.

    Teachers are trained on a subset of a dataset's categories with
    ``metainfo=dict(classes=...)``. mmdet's ``CocoDataset`` silently drops class names that
    the annotation file does not contain (and then fails with an unrelated numpy error, or
    trains with shifted labels), and both it and ``CocoMetric`` number labels in the
    annotation file's category order, whatever order ``classes`` lists them in. This class
    checks, before any image is parsed, that

    - the annotation file exists (the message names it and ``data_root``);
    - every requested class name is a category of the file (the message lists the unknown
      names and the available ones);
    - the requested classes follow the file's category order, so that label ``i`` is
      ``classes[i]`` for the dataset and for ``CocoMetric`` alike.
    """

    def load_data_list(self) -> List[dict]:
        if '://' not in self.ann_file and not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'Annotation file {self.ann_file!r} not found (data_root={self.data_root!r}). '
                'Check data_root / ann_file; the embedded shapes data is generated with '
                '`python tools/misc/generate_shapes.py data/shapes`.')
        # The parent parses the file and immediately looks the classes up; wrap its COCO API
        # factory so the check runs on that single parse (COCO train is ~450 MB of JSON).
        coco_api = self.COCOAPI

        def checked_api(path):
            coco = coco_api(path)
            self._check_classes(coco)
            return coco

        self.COCOAPI = checked_api
        try:
            return super().load_data_list()
        finally:
            del self.COCOAPI  # back to the class attribute

    def _check_classes(self, coco) -> None:
        classes = list(self.metainfo['classes'])
        file_names = [c['name'] for c in coco.load_cats(coco.get_cat_ids())]
        unknown = [c for c in classes if c not in file_names]
        if unknown:
            raise ValueError(
                f'Classes {unknown} are not categories of {self.ann_file!r}; its categories '
                f'are {file_names}. Fix the spelling in metainfo=dict(classes=...).')
        in_file_order = [c for c in file_names if c in set(classes)]
        if classes != in_file_order:
            raise ValueError(
                f'Classes {tuple(classes)} must follow the category order of '
                f'{self.ann_file!r}, because mmdet numbers labels in file order: use '
                f'{tuple(in_file_order)}.')
