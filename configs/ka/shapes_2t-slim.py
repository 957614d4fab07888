# Student_slim (paper Table I): shapes_2t with redundancy-based sequence compression
# (Alg. 1): the encoder and decoder see n tokens instead of N·n. P_slim is chosen on the
# teachers' projections during training and on the student's own at evaluation; full
# attention over the kept tokens, as in the authors' code.
_base_ = './shapes_2t.py'
model = dict(student=dict(compression=dict(strategy='redundancy', attention='full')))
