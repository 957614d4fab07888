# shapes_2t with the authors' public code's recipe instead of the paper's text
# (configs/_base_/ka/code-recipe.py lists each difference): ground truth at weight 1, TA at
# T = 4 on every decoder layer with DETR's matching cost and no confidence weighting, SA
# summed over teachers, SA/TA weights decayed linearly to 0. The student, teachers, data and
# schedule are shapes_2t's, so the two recipes compare one to one.
# Not carried over: the code's ChannelNorm in SA (mmka keeps the paper's per-channel batch
# statistics) and its full encoder attention in the main VOC config (mmka's student is
# block-diagonal, the paper's eq. 3-4).
_base_ = ['./shapes_2t.py', '../_base_/ka/code-recipe.py']
model = dict(hooks={{_base_.code_recipe_hooks}},
             gt_loss_weight={{_base_.code_recipe_gt_loss_weight}})
