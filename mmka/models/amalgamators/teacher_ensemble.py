"""The "Ensemble" baseline of paper Table I: all teachers run, predictions merged by name."""
import copy
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ...datasets.partitions import check_partition
from ..task_modules import class_index_map
from .teachers import build_frozen_teacher


@MODELS.register_module()
class TeacherEnsemble(BaseModel):
    """Evaluate N teachers together on all classes (an inference-only detector).

    Every teacher predicts on the image; its labels are mapped into ``classes`` by name and
    the union of all predictions, highest scores first, is kept (up to ``max_per_img``).
    With one teacher this is that teacher evaluated on the full label space (paper Table I
    rows Teacher_i are evaluated on their own classes; the demo also reports them this way).

    By default nothing is cut: every teacher keeps all the detections it would report alone.
    That is the paper's Ensemble row, which equals the mean of its teachers' per-partition
    APs (Table I: (46.15 + 51.63) / 2 = 48.89) — true of merged predictions only when no
    teacher loses detections to the others'.

    Args:
        teachers (Sequence[dict]): ``dict(config=..., checkpoint=..., classes=None)`` each.
        classes (Sequence[str]): the full label space, in label order.
        max_per_img (int, optional): detections kept per image after merging. Default None:
            the sum of the teachers' own ``test_cfg.max_per_img`` (their number of queries
            where unset), i.e. no cut.
        data_preprocessor (dict, optional): default: the first teacher's.
    """

    def __init__(self, teachers: Sequence[dict], classes: Sequence[str],
                 max_per_img: Optional[int] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        built = [build_frozen_teacher(**dict(t)) for t in teachers]
        if data_preprocessor is None:
            data_preprocessor = built[0][0].data_preprocessor
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.teachers = nn.ModuleList([model for model, _ in built])
        self.classes = tuple(classes)
        check_partition([c for _, c in built], self.classes)
        for i, (_, teacher_classes) in enumerate(built):
            self.register_buffer(f'label_map_{i}', class_index_map(self.classes, teacher_classes),
                                 persistent=False)
        if max_per_img is None:
            max_per_img = sum(detections_per_image(model) for model, _ in built)
        elif not (isinstance(max_per_img, int) and max_per_img >= 1):
            raise ValueError(f'max_per_img must be an int >= 1 or None (keep every '
                             f"teacher's detections), got {max_per_img!r}.")
        self.max_per_img = max_per_img

    def train(self, mode: bool = True) -> 'TeacherEnsemble':
        return super().train(False)  # inference only: teachers stay in eval mode

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        per_teacher = [t.predict(inputs, copy.deepcopy(data_samples)) for t in self.teachers]
        for b, sample in enumerate(data_samples):
            preds = [res[b].pred_instances for res in per_teacher]
            for i, pred in enumerate(preds):
                pred.labels = getattr(self, f'label_map_{i}')[pred.labels]
            merged = preds[0].cat(preds)
            order = merged.scores.argsort(descending=True)[:self.max_per_img]
            sample.pred_instances = merged[order]
        return data_samples

    def forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None,
                mode: str = 'predict'):
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f'TeacherEnsemble only predicts (mode="predict"), got mode={mode!r}; '
                         'evaluate it with tools/test.py.')


def detections_per_image(detector: nn.Module) -> int:
    """How many detections a DETR reports per image: its head's ``test_cfg.max_per_img``,
    or one per query where that is unset (as mmdet's ``DETRHead`` does)."""
    test_cfg = detector.bbox_head.test_cfg or {}
    return int(test_cfg.get('max_per_img', detector.num_queries))
