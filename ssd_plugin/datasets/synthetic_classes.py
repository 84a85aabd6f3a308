"""Class names of the generated shapes dataset (``ssd_plugin.testing.synthetic_coco``).

A module of its own, without the generator, so that configs (the demo's) and
the generator share one list while ``import ssd_plugin`` loads no generator code.
"""

__all__ = ['SYNTHETIC_CLASSES']

# In category order: category id k + 1 is SYNTHETIC_CLASSES[k].
SYNTHETIC_CLASSES = ('ellipse', 'rectangle', 'triangle', 'star', 'cross', 'ring')
