import copy

import pytest
import torch
from torch import nn

from ssd_plugin.engine import CPUAutocastOptimWrapper, cpu_has_native_bf16
from ssd_plugin.registry import OPTIM_WRAPPERS


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())


def test_forward_in_bf16_parameters_and_step_stay_float32():
    net = _net()
    reference = copy.deepcopy(net)
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type='CPUAutocastOptimWrapper',
            optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        )
    )
    assert isinstance(wrapper, CPUAutocastOptimWrapper)
    x = torch.randn(2, 3, 6, 6)
    with wrapper.optim_context(net):
        out = net(x)
    assert out.dtype == torch.bfloat16  # the conv ran under autocast
    assert net(x).dtype == torch.float32  # outside the context: float32 again
    wrapper.update_params(out.float().square().mean())
    assert all(p.dtype == torch.float32 for p in net.parameters())

    # The same step by hand: autocast forward, float32 backward and update, no
    # loss scaling.
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ref_out = reference(x)
    ref_out.float().square().mean().backward()
    opt.step()
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert not torch.equal(net[0].weight, _net()[0].weight)  # it did update


def test_bad_dtype_is_named():
    with pytest.raises(ValueError, match="got 'float32'"):
        CPUAutocastOptimWrapper(
            dtype='float32', optimizer=torch.optim.SGD(_net().parameters(), lr=0.1)
        )


def test_native_bf16_probe(monkeypatch):
    assert isinstance(cpu_has_native_bf16(), bool)
    for name in ('_is_avx512_bf16_supported', '_is_amx_tile_supported'):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    assert cpu_has_native_bf16() is False
    monkeypatch.setattr(torch.cpu, '_is_amx_tile_supported', lambda: True)
    assert cpu_has_native_bf16() is True
    monkeypatch.delattr(torch.cpu, '_is_amx_tile_supported')
    monkeypatch.delattr(torch.cpu, '_is_avx512_bf16_supported')
    assert cpu_has_native_bf16() is False  # probes missing: no autocast
