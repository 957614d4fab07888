# Compression ablation (paper Fig. 6b) in the DINO family: shapes_2t_dino-slim with
# isometric down-sampling (on each level, position i keeps segment i mod 2) instead of
# redundancy-based selection.
_base_ = './shapes_2t_dino-slim.py'
model = dict(student=dict(compression=dict(strategy='isometric')))
