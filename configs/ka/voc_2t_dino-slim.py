# Student_slim on VOC 07+12 in the DINO family: voc_2t_dino with redundancy-based compression
# (Alg. 1 on each level): each position keeps the least redundant of the 2 segments, chosen
# on the teachers' projections in training and on the student's own at evaluation, so the
# encoder and the decoder see one 4-level sequence, as the DINO Raw does. Full attention
# over the kept tokens (deformable attention has no grouped variant). Teachers: see
# voc_2t_dino.py.
#   tools/dist_train.sh configs/ka/voc_2t_dino-slim.py 8
_base_ = './voc_2t_dino.py'
model = dict(student=dict(compression=dict(strategy='redundancy', attention='full')))
