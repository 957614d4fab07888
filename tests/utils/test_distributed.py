import os.path as osp

import torch.distributed as dist

from mmka.utils import close_distributed


def test_close_distributed_destroys_the_default_group(tmp_path):
    store = osp.join(str(tmp_path), 'gloo_store')
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        close_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_close_distributed_without_a_group_does_nothing():
    assert not dist.is_initialized()
    close_distributed()
    assert not dist.is_initialized()
