"""COCO box AP on all classes and, separately, on each teacher's class subset."""
import contextlib
import io
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence

from mmengine.fileio import load

from mmdet.datasets.api_wrappers import COCOeval
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS

#: The COCOeval.stats entries reported per partition (indices into the 12 stats).
PARTITION_STATS = dict(bbox_mAP=0, bbox_mAP_50=1, bbox_mAP_75=2)


@METRICS.register_module()
class PartitionCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric`` plus AP / AP50 / AP75 restricted to named class subsets.

    COCO AP is a mean over categories, so AP on a subset is the AP a model reaches on those
    classes: e.g. how well an amalgamated student detects teacher 1's classes, or a teacher
    on its own partition (paper Table I). Each partition is evaluated by COCOeval with
    ``params.catIds`` set to its classes, on the same detections as the all-class metric.

    Extra keys (after mmengine's ``coco/`` prefix): ``{name}_bbox_mAP``,
    ``{name}_bbox_mAP_50``, ``{name}_bbox_mAP_75`` for every partition ``name``.

    Args:
        partitions (dict[str, Sequence[str]]): partition name -> class names. Every name must
            be one of the dataset's classes.
        **kwargs: :class:`mmdet.evaluation.CocoMetric` arguments; ``metric`` must be 'bbox'.
    """

    def __init__(self, partitions: Optional[Dict[str, Sequence[str]]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if self.metrics != ['bbox']:
            raise ValueError(f"PartitionCocoMetric evaluates boxes only; got metric="
                             f"{self.metrics!r}, use metric='bbox'.")
        if self.format_only:
            raise ValueError('PartitionCocoMetric computes metrics; use mmdet\'s CocoMetric '
                             'for format_only=True.')
        self.partitions = {str(k): tuple(v) for k, v in (partitions or {}).items()}

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        metrics = super().compute_metrics(results)  # also sets self.cat_ids, self._coco_api
        if not self.partitions:
            return metrics
        _, preds = zip(*results)
        with tempfile.TemporaryDirectory() as tmp:
            files = self.results2json(preds, osp.join(tmp, 'results'))
            boxes = load(files['bbox'])
        # pycocotools' loadRes fails on an empty list: no detections at all means AP 0.
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            detections = self._coco_api.loadRes(boxes) if boxes else None
        classes = self.dataset_meta['classes']
        for name, subset in self.partitions.items():
            unknown = [c for c in subset if c not in classes]
            if unknown:
                raise ValueError(f'Partition {name!r} names classes {unknown} that are not '
                                 f'among the dataset classes {tuple(classes)}.')
            stats = self._evaluate_subset(detections, subset)
            metrics.update({f'{name}_{key}': stats[i] for key, i in PARTITION_STATS.items()})
        return metrics

    def _evaluate_subset(self, detections, subset: Sequence[str]) -> List[float]:
        if detections is None:
            return [0.0] * len(PARTITION_STATS)
        evaluator = COCOeval(self._coco_api, detections, 'bbox')
        evaluator.params.catIds = self._coco_api.get_cat_ids(cat_names=list(subset))
        evaluator.params.imgIds = self.img_ids
        evaluator.params.maxDets = list(self.proposal_nums)
        with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints every table
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        return [round(float(s), 3) for s in evaluator.stats]
