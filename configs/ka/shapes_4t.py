# Knowledge amalgamation on the embedded shapes data, 4 teachers (paper Table IV setting):
# SA + TA + ground truth with a 4-segment extended student.
_base_ = './shapes_2t.py'
num_teachers = 4
teacher_configs = [
    f'configs/teachers/conditional-detr_r18tiny_1xb16-30e_shapes-t{t}of4.py' for t in range(1, 5)]
teacher_checkpoints = [
    f'work_dirs/conditional-detr_r18tiny_1xb16-30e_shapes-t{t}of4/epoch_30.pth'
    for t in range(1, 5)]
model = dict(
    student=dict(num_teachers=num_teachers),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)])
