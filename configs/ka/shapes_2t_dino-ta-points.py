# Option from KD-DETR (issue: distillation points as TA targets) in the DINO family: SA + TA
# through consistent distillation points + ground truth. For each teacher the points are
# reference boxes that it and the student decode in decoder calls of their own, without
# denoising queries: 30 random boxes per image (centres uniform, widths and heights
# log-uniform in [1/32, 1]) and the teacher's 30 top-k encoder proposals of the batch
# (teacher and student have the same 30 queries: a proposal of rank i takes each model's
# content query i). At teacher t's points the student's predictions on t's classes mimic
# t's one to one, with no Hungarian matching (PointTaskAmalgamation), on every decoder
# layer. Compared with shapes_2t_dino.py (Hungarian TA) by benchmarks/reproduce_table1.py
# ("Student, TA by points"). No teacher output cache: what point TA records from a DINO
# teacher (its encoder call) carries the level layout, which has no per-image split.
_base_ = './shapes_2t_dino.py'
model = dict(hooks=[
    dict(type='SequenceAmalgamation', loss_weight=1.0),
    dict(type='PointTaskAmalgamation', loss_weight=1.0,
         points=dict(num_general=30, specific=True, box_sizes=(1 / 32, 1.0)),
         loss=dict(type='KDDETRLoss', temperature=10.0, cls_weight=1.0, l1_weight=5.0,
                   giou_weight=2.0, aux_layers=True)),
])
