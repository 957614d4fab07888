# Ensemble baseline for 4 teachers (paper Table IV "Ensemble"): the four shapes teachers of
# shapes_4t.py run on every image, their predictions merged into the 20-class label space
# by name, every teacher's detections kept (no cut to a fixed number). Inference only, no
# checkpoint argument:
#   python tools/test.py configs/ka/shapes_4t-ensemble.py
_base_ = './shapes_4t.py'
from mmka.utils import load_model_cfg

ka_model = load_model_cfg('{{ fileDirname }}/shapes_4t.py')
model = dict(_delete_=True, type='TeacherEnsemble', teachers=ka_model['teachers'],
             classes=ka_model['classes'])
del ka_model
