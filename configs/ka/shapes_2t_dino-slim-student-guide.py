# Student_slim in the DINO family with P_slim chosen on the student's own multi-level
# projections X_S in training too (mmka option `compression.train_guide='student'`). The
# paper (§III-B3) chooses on the teachers' X_T in training and on X_S at evaluation, so the
# two stages may keep different tokens; this config keeps one rule for both (Alg. 1 on each
# level, as shapes_2t_dino-slim.py). Compared with shapes_2t_dino-slim.py in the Table I
# script.
_base_ = './shapes_2t_dino-slim.py'
model = dict(student=dict(compression=dict(train_guide='student')))
