# DETR R50 with pre-norm transformer layers: the paper's (and UP-DETR's) architecture,
# facebookresearch/detr `--pre_norm` (LayerNorm before every attention and FFN, a final
# LayerNorm after the encoder and the decoder). Sizes as ./detr_r50.py. UP-DETR checkpoints:
#   python tools/model_converters/updetr_to_mmdet.py up-detr.pth up-detr_mmdet.pth --skip-head
_base_ = './detr_r50.py'
model = dict(type='PreNormDETR')
