# Compression ablation (paper Fig. 6b) in the DINO family: shapes_2t_dino-slim with random
# down-sampling (on each level, a uniformly random segment per position, from the
# compressor's own seeded generator) instead of redundancy-based selection.
_base_ = './shapes_2t_dino-slim.py'
model = dict(student=dict(compression=dict(strategy='random')))
