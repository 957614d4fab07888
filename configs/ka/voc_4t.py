# Knowledge amalgamation on VOC with 4 teachers (paper Table IV): a 4-segment student,
# compressed back to n tokens (the paper reports Student_slim for this setting).
_base_ = './voc_2t.py'
teacher_configs = [
    f'configs/teachers/detr-prenorm_r50_4xb8-200e_voc0712-t{t}of4.py' for t in range(1, 5)]
teacher_checkpoints = [
    f'work_dirs/detr-prenorm_r50_4xb8-200e_voc0712-t{t}of4/epoch_200.pth' for t in range(1, 5)]
model = dict(
    student=dict(num_teachers=4, compression=dict(strategy='redundancy', attention='full')),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)])
