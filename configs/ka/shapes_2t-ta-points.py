# Option from KD-DETR (issue: distillation points as TA targets): SA + TA through consistent
# distillation points + ground truth. Each teacher and the student decode the same query
# groups (30 random points per image, as many as the model has queries, and the teacher's
# 30 learned queries); at teacher t's points the student's predictions on t's classes mimic
# t's one to one, with no Hungarian matching (PointTaskAmalgamation). Compared with
# shapes_2t.py (Hungarian TA) by benchmarks/reproduce_table1.py ("Student, TA by points").
_base_ = './shapes_2t.py'
model = dict(hooks=[
    dict(type='SequenceAmalgamation', loss_weight=1.0),
    dict(type='PointTaskAmalgamation', loss_weight=1.0,
         points=dict(num_general=30, specific=True, query_sampling='teacher_stats'),
         loss=dict(type='KDDETRLoss', temperature=10.0, cls_weight=1.0, l1_weight=5.0,
                   giou_weight=2.0, aux_layers=True)),
])
