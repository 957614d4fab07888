# Student_slim in the DINO family with 4 teachers (paper Table IV "Student_slim"):
# shapes_4t_dino with redundancy-based compression (Alg. 1 on each level), chosen on the
# teachers' projections in training, on the student's own at evaluation; the decoder then
# sees 3 levels, as the DINO Raw.
_base_ = './shapes_4t_dino.py'
model = dict(student=dict(compression=dict(strategy='redundancy', attention='full')))
