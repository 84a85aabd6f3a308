from .skip_output_conv_fpn import SkipOutputConvFPN

__all__ = ['SkipOutputConvFPN']
