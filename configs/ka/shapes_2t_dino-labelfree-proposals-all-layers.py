# Label-free amalgamation in the DINO family with TA on the two-stage proposals
# (shapes_2t_dino-labelfree-proposals.py) and on every decoder layer (aux_layers=True, as the
# authors' code does). Why: without ground truth, TA on the last layer alone never trains the
# first decoder layer's box branch. DINO detaches each layer's refined reference boxes before
# the next layer, and the last layer's boxes are its own delta on layer L-1's (undetached)
# boxes, so the last-layer loss reaches the box branches of layers L-1 and L only; layer 1's
# stays at its zero initialisation (an identity refinement; measured on the 24-epoch
# checkpoint of the proposal-TA row, see docs/results.md). Distilling every layer trains it,
# as the labelled Student's ground-truth loss on every layer does.
_base_ = './shapes_2t_dino-labelfree-proposals.py'
model = dict(hooks=[
    dict(type='SequenceAmalgamation', loss_weight=1.0),
    dict(type='TaskAmalgamation', loss_weight=1.0, proposals=True, aux_layers=True,
         targets=dict(score_thr=0.1, max_targets=50, temperature=1.0, pad='zero')),
])
