# Compression ablation (paper Fig. 6b): shapes_2t-slim with isometric down-sampling instead of
# redundancy-based selection.
_base_ = './shapes_2t-slim.py'
model = dict(student=dict(compression=dict(strategy='isometric')))
