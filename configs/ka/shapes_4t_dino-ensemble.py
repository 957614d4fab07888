# Ensemble baseline in the DINO family for 4 teachers (paper Table IV "Ensemble"): the four
# tiny DINO teachers of shapes_4t_dino.py on every image, predictions merged into the
# 20-class label space by name, none cut. Inference only:
#   python tools/test.py configs/ka/shapes_4t_dino-ensemble.py
_base_ = './shapes_4t_dino.py'
from mmka.utils import load_model_cfg

ka_model = load_model_cfg('{{ fileDirname }}/shapes_4t_dino.py')
model = dict(_delete_=True, type='TeacherEnsemble', teachers=ka_model['teachers'],
             classes=ka_model['classes'])
del ka_model
