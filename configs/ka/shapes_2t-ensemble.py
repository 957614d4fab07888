# Ensemble baseline (paper Table I "Ensemble"): both shapes teachers of shapes_2t.py run on
# every image, their predictions merged into the 20-class label space by name, every
# teacher's detections kept (no cut to a fixed number). Inference only, no checkpoint
# argument:
#   python tools/test.py configs/ka/shapes_2t-ensemble.py
_base_ = './shapes_2t.py'
from mmka.utils import load_model_cfg

ka_model = load_model_cfg('{{ fileDirname }}/shapes_2t.py')
model = dict(_delete_=True, type='TeacherEnsemble', teachers=ka_model['teachers'],
             classes=ka_model['classes'])
del ka_model
