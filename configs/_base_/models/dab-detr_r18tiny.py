# The tiny embedded detector of conditional-detr_r18tiny.py as a DAB-DETR: same backbone,
# input projection, encoder layers, widths and queries; 4-d anchor queries refined layer by
# layer (query_dim=4), mmdet's DAB-DETR decoder options and head, positional temperature 20.
_base_ = './conditional-detr_r18tiny.py'
model = dict(
    type='DABDETR',
    with_random_refpoints=False,
    num_patterns=0,
    decoder=dict(query_dim=4, query_scale_type='cond_elewise', with_modulated_hw_attn=True),
    positional_encoding=dict(temperature=20),
    bbox_head=dict(type='DABDETRHead'))
