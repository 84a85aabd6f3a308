from .ssd_pseudo_sampler import SSDPseudoSampler

__all__ = ['SSDPseudoSampler']
