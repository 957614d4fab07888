"""The teachers' soft targets as hard labels: ground truth for a student's own DETR loss."""
from typing import Sequence

from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample, SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy


def targets_as_samples(targets: Sequence[InstanceData],
                       data_samples: SampleList) -> SampleList:
    """Copies of ``data_samples`` whose annotations are the teachers' targets.

    Each target becomes one labelled object: its most probable class (``labels``) and its
    box, from normalised (cx, cy, w, h) to absolute (x1, y1, x2, y2) in the frame of
    ``img_shape``, which is where mmdet's DETR heads read labelled boxes (they divide by
    ``img_shape`` again). Nothing of the given samples' annotations is read or kept: the
    copies carry their metainfo only, so a loss on them reads no human label.

    Args:
        targets (Sequence[InstanceData]): per image, :class:`SoftTargetBuilder`'s output
            (``bboxes`` (k, 4) normalised (cx, cy, w, h), ``labels`` (k,)); k may be 0.
        data_samples (SampleList): the batch's samples, for their metainfo.

    Returns:
        SampleList: one :class:`DetDataSample` per image with ``gt_instances`` holding
        ``bboxes`` (k, 4) and ``labels`` (k,).
    """
    assert len(targets) == len(data_samples), (len(targets), len(data_samples))
    samples = []
    for image_targets, sample in zip(targets, data_samples):
        img_h, img_w = sample.metainfo['img_shape'][:2]
        boxes = image_targets.bboxes.float()
        factor = boxes.new_tensor([img_w, img_h, img_w, img_h])
        labelled = DetDataSample(metainfo=sample.metainfo)
        labelled.gt_instances = InstanceData(
            bboxes=bbox_cxcywh_to_xyxy(boxes) * factor, labels=image_targets.labels.clone())
        samples.append(labelled)
    return samples
