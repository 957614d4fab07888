# Compression ablation: after compression, kept tokens attend only to kept tokens of their
# own segment (per-segment attention groups) instead of full attention (the paper leaves
# this open; the authors' code uses full attention).
_base_ = './shapes_2t-slim.py'
model = dict(student=dict(compression=dict(attention='grouped')))
