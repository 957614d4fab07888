# voc_2t with the authors' public code's amalgamation recipe instead of the paper's text
# (configs/_base_/ka/code-recipe.py lists each difference): ground truth at weight 1, TA at
# T = 4 on every decoder layer with DETR's matching cost and no confidence weighting, SA
# summed over teachers, SA/TA weights decayed linearly to 0.
#   tools/dist_train.sh configs/ka/voc_2t-code-recipe.py 4
# Teachers, data and schedule are voc_2t's. The code's schedule and architecture (200
# epochs with the step at 150, pre-norm DETR from UP-DETR weights) are not part of this
# recipe: they belong to the teachers and the baseline, see voc_2t.py.
_base_ = ['./voc_2t.py', '../_base_/ka/code-recipe.py']
model = dict(hooks={{_base_.code_recipe_hooks}},
             gt_loss_weight={{_base_.code_recipe_gt_loss_weight}})
