"""The teachers' targets as labels: boxes in the frame mmdet's DETR losses read."""
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmka.models.task_modules import targets_as_samples


def _sample(img_shape):
    sample = DetDataSample(metainfo=dict(img_shape=img_shape, img_id=7))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[1., 2., 3., 4.]]),
                                       labels=torch.tensor([9]))
    return sample


def test_targets_become_absolute_boxes_and_argmax_labels_without_the_annotations():
    targets = InstanceData(bboxes=torch.tensor([[0.5, 0.5, 0.2, 0.4], [0.25, 0.75, 0.5, 0.1]]),
                           labels=torch.tensor([3, 0]), scores=torch.tensor([0.9, 0.6]))
    empty = InstanceData(bboxes=torch.zeros((0, 4)), labels=torch.zeros((0,), dtype=torch.long),
                         scores=torch.zeros((0,)))
    samples = [_sample((40, 100)), _sample((64, 64))]  # (h, w)
    made = targets_as_samples([targets, empty], samples)
    first = made[0].gt_instances
    # Normalised (cx, cy, w, h) times (w, h, w, h) = (100, 40, 100, 40).
    torch.testing.assert_close(first.bboxes, torch.tensor([[40., 12., 60., 28.],
                                                           [0., 28., 50., 32.]]))
    assert first.labels.tolist() == [3, 0]
    # Back to the frame the DETR loss compares in: the targets' own boxes.
    torch.testing.assert_close(bbox_xyxy_to_cxcywh(first.bboxes) / first.bboxes.new_tensor(
        [100, 40, 100, 40]), targets.bboxes)
    assert made[1].gt_instances.bboxes.shape == (0, 4) and len(made[1].gt_instances) == 0
    assert made[0].metainfo == samples[0].metainfo
    # The given samples are untouched and none of their annotations is carried over.
    assert samples[0].gt_instances.labels.tolist() == [9]
    assert set(made[0].gt_instances.keys()) == {'bboxes', 'labels'}
