# Raw_ext with sequence compression in the DINO family: on each level, each position keeps
# the least redundant of the 2 segments (Alg. 1 per level), so encoder and decoder see one
# 3-level sequence, as the DINO Raw does. Full attention over the kept tokens (deformable
# attention has no grouped variant).
_base_ = './ka-dino_r18tiny_1xb16-12e_shapes-rawext2t.py'
model = dict(compression=dict(strategy='redundancy', attention='full'))
