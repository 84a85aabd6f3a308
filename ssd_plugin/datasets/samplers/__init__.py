from .split_epoch_sampler import SplitEpochSampler

__all__ = ['SplitEpochSampler']
