# Raw_ext with sequence compression (paper Alg. 1) on the shapes data: each position keeps the
# least redundant of the 2 segments, so the encoder and decoder see n tokens, as in Raw.
# Without teachers the redundancy is measured on the student's own projections; full
# attention over the kept tokens, as in the authors' code ('grouped' is the alternative).
_base_ = './ka-conditional-detr_r18tiny_1xb16-30e_shapes-rawext2t.py'
model = dict(compression=dict(strategy='redundancy', attention='full'))
