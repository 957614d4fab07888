# Student_slim on VOC, 2 teachers (paper Table I): voc_2t with redundancy compression.
_base_ = './voc_2t.py'
model = dict(student=dict(compression=dict(strategy='redundancy', attention='full')))
