import pytest
import torch
from mmdet.models.necks import FPN

from ssd_plugin.models import SkipOutputConvFPN
from ssd_plugin.registry import MODELS

ARGS = dict(in_channels=[4, 8, 16], out_channels=6, num_outs=3)


def _inputs():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, c, s, s, generator=g) for c, s in zip(ARGS['in_channels'], (16, 8, 4))]


def test_skipped_level_is_the_top_down_sum_the_others_are_mmdets():
    torch.manual_seed(0)
    ours = MODELS.build(dict(type='ssd_plugin.SkipOutputConvFPN', **ARGS))
    assert isinstance(ours, SkipOutputConvFPN) and ours.skip_output_conv == (0,)
    assert not any(k.startswith('fpn_convs.0.') for k in ours.state_dict())
    reference = FPN(**ARGS)
    missing, unexpected = reference.load_state_dict(ours.state_dict(), strict=False)
    assert missing == ['fpn_convs.0.conv.weight', 'fpn_convs.0.conv.bias'] and not unexpected
    seen = {}
    reference.fpn_convs[0].register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    inputs = _inputs()
    with torch.no_grad():
        got, want = ours(inputs), reference(inputs)
    assert [o.shape for o in got] == [o.shape for o in want]
    torch.testing.assert_close(got[0], seen['x'], rtol=0, atol=0)  # what mmdet's conv reads
    for a, b in zip(got[1:], want[1:]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_several_levels_and_start_level():
    ours = SkipOutputConvFPN(**ARGS, start_level=1, skip_output_conv=(1, 0))
    assert ours.skip_output_conv == (0, 1)
    assert all(isinstance(c, torch.nn.Identity) for c in ours.fpn_convs)
    outs = ours(_inputs())
    assert [tuple(o.shape[-2:]) for o in outs] == [(8, 8), (4, 4), (2, 2)]  # + max-pool level


@pytest.mark.parametrize('levels', [(3,), (-1,)])
def test_a_level_the_neck_does_not_have_is_named(levels):
    with pytest.raises(ValueError, match=rf'names levels \[{levels[0]}\].*0\.\.2'):
        SkipOutputConvFPN(**ARGS, skip_output_conv=levels)


def test_unknown_argument_named():
    with pytest.raises(TypeError, match='skip_output_convs.*skip_output_conv'):
        SkipOutputConvFPN(**ARGS, skip_output_convs=(0,))
