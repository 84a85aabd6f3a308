from .ssd_anchor_generator import SSDAnchorGenerator

__all__ = ['SSDAnchorGenerator']
