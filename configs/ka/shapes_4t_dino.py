# Knowledge amalgamation on the embedded shapes data with 4 tiny DINO teachers (paper
# Table IV setting in the DINO family): SA + TA + ground truth as shapes_2t_dino.py, the
# student the DINO Raw_ext with 4 segments (KADINOStudent, num_teachers=4).
# Teachers: train them first (tools/train.py configs/teachers/dino_r18tiny_1xb16-12e_shapes-
# t{1,2,3,4}of4.py), or point `teacher_checkpoints` elsewhere with --cfg-options.
_base_ = './shapes_2t_dino.py'
num_teachers = 4
teacher_configs = [
    f'configs/teachers/dino_r18tiny_1xb16-12e_shapes-t{t}of4.py' for t in range(1, 5)]
teacher_checkpoints = [
    f'work_dirs/dino_r18tiny_1xb16-12e_shapes-t{t}of4/epoch_12.pth' for t in range(1, 5)]
model = dict(
    student=dict(num_teachers=num_teachers),
    teachers=[dict(config=c, checkpoint=k) for c, k in zip(teacher_configs, teacher_checkpoints)])
