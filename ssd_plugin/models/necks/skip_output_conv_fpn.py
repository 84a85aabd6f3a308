"""mmdet's FPN with the 3x3 output convolution left out on chosen levels."""

from typing import List, Sequence, Union

from mmdet.models.necks import FPN
from mmdet.utils import ConfigType, MultiConfig, OptConfigType
from torch import nn

from ssd_plugin.registry import MODELS
from ssd_plugin.utils.strict_args import strict_init

__all__ = ['SkipOutputConvFPN']


@MODELS.register_module()
@strict_init
class SkipOutputConvFPN(FPN):
    """``mmdet.FPN`` whose outputs on ``skip_output_conv`` levels are the top-down sums.

    FPN (Lin et al. 2017, §3) appends a 3x3 convolution to each merged map "to
    reduce the aliasing effect of upsampling". On the finest level of a small
    model that convolution is a large share of the compute, while a head with
    3x3 predictors (SSD's, §2.1) already reads each output through a 3x3
    window. In the demo's model (128 px input, 64 channels, strides 4-32) the
    stride-4 output convolution is 75.5 of 301.5 MFLOPs a forward pass
    (``torch.utils.flop_counter``); leaving it out made the demo's training
    step 1.13x faster (``docs/demo.md``).

    Args:
        in_channels, out_channels, num_outs, start_level, end_level,
            add_extra_convs, relu_before_extra_convs, no_norm_on_lateral,
            conv_cfg, norm_cfg, act_cfg, upsample_cfg, init_cfg: ``mmdet.FPN``'s.
        skip_output_conv: Indices of the backbone levels used (0 is
            ``start_level``) whose output is the lateral plus the upsampled
            coarser map, with no 3x3 convolution after it.

    Raises:
        ValueError: An index is not one of the levels taken from the backbone.
    """

    def __init__(
        self,
        in_channels: List[int],
        out_channels: int,
        num_outs: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: Union[bool, str] = False,
        relu_before_extra_convs: bool = False,
        no_norm_on_lateral: bool = False,
        conv_cfg: OptConfigType = None,
        norm_cfg: OptConfigType = None,
        act_cfg: OptConfigType = None,
        upsample_cfg: ConfigType = dict(mode='nearest'),
        init_cfg: MultiConfig = dict(type='Xavier', layer='Conv2d', distribution='uniform'),
        skip_output_conv: Sequence[int] = (0,),
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            num_outs,
            start_level=start_level,
            end_level=end_level,
            add_extra_convs=add_extra_convs,
            relu_before_extra_convs=relu_before_extra_convs,
            no_norm_on_lateral=no_norm_on_lateral,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            upsample_cfg=upsample_cfg,
            init_cfg=init_cfg,
        )
        levels = self.backbone_end_level - self.start_level
        bad = [i for i in skip_output_conv if not 0 <= i < levels]
        if bad:
            raise ValueError(
                f'SkipOutputConvFPN: skip_output_conv {list(skip_output_conv)} names levels '
                f'{bad}; the backbone levels used are 0..{levels - 1}'
            )
        self.skip_output_conv = tuple(sorted(set(skip_output_conv)))
        for i in self.skip_output_conv:
            self.fpn_convs[i] = nn.Identity()
