"""Class names of the generated shapes dataset, shared by the generator and the
demo's configs (``from ssd_plugin.apis.synthetic_data.classes import SYNTHETIC_CLASSES``)."""

__all__ = ['SYNTHETIC_CLASSES']

# In category order: category id k + 1 is SYNTHETIC_CLASSES[k].
SYNTHETIC_CLASSES = ('ellipse', 'rectangle', 'triangle', 'star', 'cross', 'ring')
