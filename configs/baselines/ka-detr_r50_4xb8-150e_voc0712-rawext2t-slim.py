# Raw_ext with redundancy-based sequence compression (paper Alg. 1, Student_slim's student
# architecture), VOC, ground truth only: encoder and decoder see n tokens, as in Raw.
_base_ = './ka-detr_r50_4xb8-150e_voc0712-rawext2t.py'
model = dict(compression=dict(strategy='redundancy', attention='full'))
