"""Class names of the generated shapes dataset. The demo's configs write the same tuple
(a config cannot import ``tools/``);
``tests/test_tools/test_synthetic_data/test_classes.py`` checks that they agree."""

__all__ = ['SYNTHETIC_CLASSES']

# In category order: category id k + 1 is SYNTHETIC_CLASSES[k].
SYNTHETIC_CLASSES = ('ellipse', 'rectangle', 'triangle', 'star', 'cross', 'ring')
