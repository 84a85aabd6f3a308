import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper

from ssd_plugin.engine import CPUAutocastOptimWrapper, InvalidLossGuardHook
from ssd_plugin.registry import HOOKS


def _runner(tmp_path, it=4, model=None, optim_wrapper=None):
    return SimpleNamespace(
        iter=it,
        epoch=0,
        work_dir=str(tmp_path),
        model=model or torch.nn.Module(),
        optim_wrapper=optim_wrapper,
        message_hub=MessageHub.get_instance('test_guard'),
    )


def test_guard_passes_finite_and_stops_on_nan_naming_last_checkpoint(tmp_path):
    hook = HOOKS.build(dict(type='InvalidLossGuardHook', max_consecutive=1))
    runner = _runner(tmp_path)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.0)))
    torch.save(dict(state_dict=dict(w=torch.ones(2))), str(tmp_path / 'epoch_3.pth'))
    (tmp_path / 'last_checkpoint').write_text(osp.join(str(tmp_path), 'epoch_3.pth'))
    with pytest.raises(FloatingPointError, match=r"iteration 5 .*'loss_cls': nan.*epoch_3.pth"):
        hook.after_train_iter(
            runner,
            0,
            outputs=dict(loss=torch.tensor(float('nan')), loss_cls=torch.tensor(float('nan'))),
        )
    with pytest.raises(FloatingPointError, match='inf'):
        hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))


def test_guard_interval():
    hook = InvalidLossGuardHook(interval=2, max_consecutive=1)
    runner = _runner('/nonexistent', it=0)
    nan = dict(loss=torch.tensor(float('nan')))
    hook.after_train_iter(runner, 0, outputs=nan)  # iteration 1: not checked
    runner.iter = 1
    with pytest.raises(FloatingPointError, match='iteration 2 '):  # iteration 2: checked
        hook.after_train_iter(runner, 1, outputs=nan)
    with pytest.raises(ValueError):
        InvalidLossGuardHook(interval=0)
    with pytest.raises(ValueError):
        InvalidLossGuardHook(max_consecutive=0)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1)
    )


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize('wrapper_type', [OptimWrapper, CPUAutocastOptimWrapper])
def test_guard_skips_non_finite_steps_keeps_weights_and_buffers_and_stops_after_n(
    tmp_path, wrapper_type
):
    model = _net()
    optim = wrapper_type(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        clip_grad=dict(max_norm=35),  # clipping NaN gradients makes every gradient NaN
    )
    runner = _runner(tmp_path, it=0, model=model, optim_wrapper=optim)
    hook = InvalidLossGuardHook(max_consecutive=2)
    hook.before_train(runner)
    hook.before_train(runner)  # wraps once

    def iteration(x):
        hook.before_train_iter(runner, runner.iter)
        with optim.optim_context(model):
            loss = model(x).float().square().mean()
        optim.update_params(loss)
        hook.after_train_iter(runner, runner.iter, outputs=dict(loss=loss.detach()))
        runner.iter += 1

    good = torch.randn(8, 3)
    bad = good.clone()
    bad[0, 0] = float('nan')  # NaN activations: NaN BN statistics, loss and gradients
    iteration(good)
    before = _state(model)
    iteration(bad)
    after = _state(model)
    for key in before:
        assert torch.equal(before[key], after[key]), key  # neither the step nor BN stats
    assert hook.skipped == 1 and hook.consecutive == 1
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    iteration(good)  # a good iteration resets the count and trains
    assert hook.consecutive == 0
    assert not torch.equal(_state(model)['0.weight'], after['0.weight'])
    assert runner.message_hub.get_scalar('train/skipped_iters').current() == 1

    torch.save(dict(state_dict=_state(model)), str(tmp_path / 'iter_3.pth'))
    poisoned = dict(_state(model), **{'1.running_var': torch.full((4,), float('nan'))})
    torch.save(dict(state_dict=poisoned), str(tmp_path / 'iter_4.pth'))
    os.utime(tmp_path / 'iter_3.pth', (1, 1))  # older than iter_4.pth
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    iteration(bad)
    with pytest.raises(FloatingPointError) as err:
        iteration(bad)
    message = str(err.value)
    assert 'iteration 5 ' in message and '2 iterations in a row' in message, message
    assert f'last checkpoint with finite weights is {tmp_path / "iter_3.pth"}' in message
    assert f'{tmp_path / "iter_4.pth"} has 1 non-finite tensors (e.g. 1.running_var)' in message
    assert all(torch.isfinite(v).all() for v in _state(model).values() if v.is_floating_point())


def test_guard_refuses_to_save_a_checkpoint_with_non_finite_weights(tmp_path):
    hook = InvalidLossGuardHook()
    runner = _runner(tmp_path)
    hook.before_save_checkpoint(runner, dict(state_dict=dict(w=torch.ones(2))))
    with pytest.raises(FloatingPointError, match=r'Not saving .* 1 of 2 tensors .*\[.w.\]'):
        hook.before_save_checkpoint(
            runner, dict(state_dict=dict(w=torch.tensor([1.0, float('inf')]), b=torch.ones(1)))
        )
    InvalidLossGuardHook(check_checkpoints=False).before_save_checkpoint(
        runner, dict(state_dict=dict(w=torch.tensor(float('nan'))))
    )


def test_guard_leaves_amp_steps_to_grad_scaler_and_counts_non_finite_losses(tmp_path):
    from mmengine.optim import AmpOptimWrapper

    amp = object.__new__(AmpOptimWrapper)  # its __init__ asserts a GPU
    hook = InvalidLossGuardHook(max_consecutive=2)
    runner = _runner(tmp_path, it=0, optim_wrapper=amp)
    hook.before_train(runner)
    assert 'step' not in vars(amp)  # GradScaler skips inf/NaN steps (and lowers the scale)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(2.0)))
    runner.iter = 1
    hook.after_train_iter(runner, 1, outputs=dict(loss=torch.tensor(float('inf'))))
    assert hook.consecutive == 1
    runner.iter = 2
    with pytest.raises(FloatingPointError, match='iteration 3 .*2 iterations in a row'):
        hook.after_train_iter(runner, 2, outputs=dict(loss=torch.tensor(float('nan'))))


def test_guard_passes_over_a_bit_flipped_checkpoint(tmp_path):
    from checkpoint_test_utils import flip_bit_in_checkpoint

    from ssd_plugin.engine import InvalidLossGuardHook

    older, newer = tmp_path / 'epoch_2.pth', tmp_path / 'epoch_3.pth'
    for path in (older, newer):
        torch.save(dict(state_dict=dict(w=torch.ones(64))), str(path))
    os.utime(older, (1, 1))
    flip_bit_in_checkpoint(newer)  # still finite: only its CRC-32 tells
    (tmp_path / 'last_checkpoint').write_text(str(newer))
    found, rejected = InvalidLossGuardHook.last_finite_checkpoint(str(tmp_path))
    assert found == (str(older), 1)
    assert rejected[0][0] == str(newer) and 'CRC-32' in rejected[0][1][0]


def test_finite_check_tells_an_overflowing_sum_from_a_non_finite_value():
    from ssd_plugin.engine.hooks.invalid_loss_guard_hook import grads_are_finite, non_finite_tensors

    big = torch.full((4,), 3e38)  # every value finite, their sum is inf
    param = torch.nn.Parameter(torch.zeros(4))
    param.grad = big.clone()
    assert grads_are_finite(torch.optim.SGD([param], lr=1))  # the step is not skipped
    param.grad[0] = float('nan')
    assert not grads_are_finite(torch.optim.SGD([param], lr=1))
    state = dict(big=big, ok=torch.ones(2), n=torch.ones(2, dtype=torch.long))
    assert non_finite_tensors(state) == []
    bad = torch.tensor([1.0, float('nan')])
    assert non_finite_tensors(dict(big=big, bad=bad)) == ['bad']
    assert non_finite_tensors(dict(a=torch.tensor([float('inf'), -float('inf')]))) == ['a']


def test_buffer_snapshot_is_kept_across_iterations_not_reallocated(tmp_path):
    model = _net()
    runner = _runner(tmp_path, it=0, model=model)
    hook = InvalidLossGuardHook()
    hook.before_train_iter(runner, 0)
    kept = [id(t) for t in hook._buffers]
    model(torch.randn(8, 3))  # BN statistics move
    hook.before_train_iter(runner, 1)
    assert [id(t) for t in hook._buffers] == kept
    assert all(torch.equal(s, b) for s, b in zip(hook._buffers, model.buffers()))
