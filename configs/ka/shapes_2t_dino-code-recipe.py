# shapes_2t_dino with the authors' public code's recipe instead of the paper's text
# (configs/_base_/ka/code-recipe.py lists each difference): ground truth at weight 1, TA at
# T = 4 on every decoder layer with the detector's own matching cost and no confidence
# weighting, SA summed over teachers, SA/TA weights decayed linearly to 0. The student,
# teachers, data and schedule are shapes_2t_dino's, so the two recipes compare one to one.
# The code's recipe is for a softmax DETR; on DINO's sigmoid/focal head (as on the
# Conditional DETR of shapes_2t-code-recipe.py) its switches become:
# - ground truth at weight 1: all of DINO's ground-truth terms (decoder, two-stage encoder,
#   denoising), which the code's DETR does not have;
# - target filter 'argmax_fg': a sigmoid head has no background outcome, so only "largest
#   class probability > 0.1" applies;
# - 'floor' padding at logit -5 and T = 4: per-class Bernoulli probabilities sigmoid(z / T);
# - match_cost 'prob' (the code: -p̂[teacher's argmax] + L1 + GIoU): the matcher a focal
#   head uses for ground truth, mmdet's FocalLossCost on the teacher's argmax label;
# - unmatched queries -> background at weight 0.1: BCE towards all-zero classes; 0.1 is
#   DETR's no-object weight, which a focal head does not have (kept at the code's value).
# Not carried over: the code's ChannelNorm in SA (mmka keeps the paper's per-channel batch
# statistics). TA on every layer leaves out DINO's denoising queries and does not distil
# the two-stage encoder proposals.
_base_ = ['./shapes_2t_dino.py', '../_base_/ka/code-recipe.py']
model = dict(hooks={{_base_.code_recipe_hooks}},
             gt_loss_weight={{_base_.code_recipe_gt_loss_weight}})
