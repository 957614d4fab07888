# The authors' public code's amalgamation recipe (facts: ../shared/seeds/authors_code.md),
# as the variables a KA config merges in; each line names where the paper's text differs.
#   _base_ = ['./shapes_2t.py', '../_base_/ka/code-recipe.py']
#   model = dict(hooks={{_base_.code_recipe_hooks}},
#                gt_loss_weight={{_base_.code_recipe_gt_loss_weight}})
code_recipe_hooks = [
    # Per-teacher SA terms summed (paper eq. 2: averaged, 1/N).
    dict(type='SequenceAmalgamation', loss_weight=1.0, reduction='sum'),
    dict(
        type='TaskAmalgamation',
        loss_weight=1.0,
        # DETR's own matching cost on the teacher's argmax label (paper eq. 10: KL + box
        # - confidence).
        match_cost='prob',
        # Every decoder layer is distilled (the paper is silent).
        aux_layers=True,
        # Argmax over classes + background must be a class with probability > 0.1, at
        # most 50 targets; other teachers' classes padded with logit -5 (paper: zeros);
        # soft targets at T = 4 (the paper's equations have no temperature).
        targets=dict(filter='argmax_fg', score_thr=0.1, max_targets=50, pad='floor',
                     floor_logit=-5.0, temperature=4.0),
        # No confidence weighting of matched pairs (paper eq. 11 weights by it); unmatched
        # queries learn "background" at DETR's no-object weight 0.1.
        loss=dict(type='TaskAmalgamationLoss', conf_weighting=False, unmatched='background',
                  bg_weight=0.1)),
]
# Ground truth at weight 1 (paper: lambda_d = 0.1) ...
code_recipe_gt_loss_weight = 1.0
# ... while the SA and TA weights decay linearly to 0 over training (the paper: constant).
custom_hooks = [dict(type='AmalgamationLossDecayHook', end_factor=0.0)]
