"""PartitionCocoMetric: AP on class subsets, checked on hand-made detections."""
import json

import numpy as np
import pytest
import torch

from mmka.evaluation import PartitionCocoMetric

CLASSES = ('a', 'b', 'c', 'd')
# Two images; one box of every class in each (x, y, w, h).
BOXES = {1: [[0, 0, 10, 10], [20, 0, 10, 10], [0, 20, 10, 10], [20, 20, 10, 10]],
         2: [[5, 5, 12, 12], [30, 5, 12, 12], [5, 30, 12, 12], [30, 30, 12, 12]]}


@pytest.fixture
def ann_file(tmp_path):
    anns, k = [], 0
    for img_id, boxes in BOXES.items():
        for label, box in enumerate(boxes):
            k += 1
            anns.append(dict(id=k, image_id=img_id, category_id=label + 1, bbox=box,
                             area=box[2] * box[3], iscrowd=0))
    data = dict(images=[dict(id=i, width=64, height=64, file_name=f'{i}.png') for i in BOXES],
                categories=[dict(id=i + 1, name=c) for i, c in enumerate(CLASSES)],
                annotations=anns)
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(data))
    return str(path)


def predict(labels_kept):
    """Perfect detections for the classes in ``labels_kept``, none for the others."""
    samples = []
    for img_id, boxes in BOXES.items():
        kept = [(lab, b) for lab, b in enumerate(boxes) if lab in labels_kept]
        xyxy = [[x, y, x + w, y + h] for _, (x, y, w, h) in kept]
        samples.append(dict(
            img_id=img_id, ori_shape=(64, 64),
            pred_instances=dict(bboxes=torch.tensor(xyxy, dtype=torch.float32).reshape(-1, 4),
                                scores=torch.ones(len(kept)),
                                labels=torch.tensor([lab for lab, _ in kept]).long())))
    return samples


def evaluate(ann_file, labels_kept, **kwargs):
    metric = PartitionCocoMetric(ann_file=ann_file, **kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, predict(labels_kept))
    return metric.evaluate(size=len(BOXES))


def test_partition_ap_is_ap_on_its_classes(ann_file):
    parts = dict(t1=('a', 'b'), t2=('c', 'd'))
    results = evaluate(ann_file, {0, 1}, partitions=parts)  # only t1's classes detected
    assert results['coco/t1_bbox_mAP'] == pytest.approx(1.0)
    assert results['coco/t1_bbox_mAP_50'] == pytest.approx(1.0)
    assert results['coco/t2_bbox_mAP'] == pytest.approx(0.0)
    # All-class AP is the category mean, so the halves average to it.
    assert results['coco/bbox_mAP'] == pytest.approx(0.5, abs=1e-3)
    assert np.isclose(results['coco/bbox_mAP'],
                      (results['coco/t1_bbox_mAP'] + results['coco/t2_bbox_mAP']) / 2,
                      atol=1e-3)


def test_no_detections_give_zero_not_a_crash(ann_file):
    results = evaluate(ann_file, set(), partitions=dict(t1=('a', )))
    assert results['coco/t1_bbox_mAP_50'] == 0.0


def test_bad_partition_and_metric_are_named(ann_file):
    with pytest.raises(ValueError, match='zebra'):
        evaluate(ann_file, {0}, partitions=dict(t1=('a', 'zebra')))
    with pytest.raises(ValueError, match='segm'):
        PartitionCocoMetric(ann_file=ann_file, metric='segm')
