# Raw without DINO's denoising loss: the tiny DINO of dino_r18tiny_1xb16-12e_shapes.py trained
# on ground truth for all 20 classes, every loss but the contrastive denoising (dn_*) ones.
# A control for the label-free rows of the Table I reproduction, which lose that term with
# the labels: how much of their gap to the labelled Student is denoising's?
_base_ = './dino_r18tiny_1xb16-12e_shapes.py'

model = dict(type='DINOWithoutDenoising')
