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
    the union of all predictions, highest scores first, is cut to ``max_per_img``. With one
    teacher this is that teacher evaluated on the full label space (paper Table I rows
    Teacher_i are evaluated on their own classes; the demo also reports them this way).

    Args:
        teachers (Sequence[dict]): ``dict(config=..., checkpoint=..., classes=None)`` each.
        classes (Sequence[str]): the full label space, in label order.
        max_per_img (int): detections kept per image after merging. Default 100.
        data_preprocessor (dict, optional): default: the first teacher's.
    """

    def __init__(self, teachers: Sequence[dict], classes: Sequence[str],
                 max_per_img: int = 100, data_preprocessor: Optional[dict] = None,
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
