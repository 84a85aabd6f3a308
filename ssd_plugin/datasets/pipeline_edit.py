"""Editing a pipeline written once (``configs/_base_/datasets/ssd_pipeline.py``).

Configs import this so that SSD's augmentation is written once and a config
at another input size states only what differs. mmengine drops functions from
a loaded config, so nothing of this module ends up in the config's dict.
"""

from typing import Dict, List, Mapping, Sequence

__all__ = ['resized']


def resized(pipeline: Sequence[Mapping], size: int) -> List[Dict]:
    """``pipeline`` with each ``Resize`` step at ``size`` x ``size``.

    Args:
        pipeline: Transform dicts, e.g. ``_base_.train_pipeline``.
        size: The network input side in pixels.

    Raises:
        ValueError: when the pipeline has no ``Resize`` step to change.
    """
    steps = [
        dict(step, scale=(size, size)) if _name(step) == 'Resize' else dict(step)
        for step in pipeline
    ]
    if not any(_name(step) == 'Resize' for step in steps):
        raise ValueError(f'the pipeline has no Resize step to set to {size}: {list(pipeline)}')
    return steps


def _name(step: Mapping) -> str:
    return str(step.get('type', '')).split('.')[-1]
