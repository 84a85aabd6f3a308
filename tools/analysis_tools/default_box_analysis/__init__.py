"""Default-box analysis and fitting (``tools/analysis_tools/default_boxes.py``).

* :mod:`.ground_truth`: what is read from a config: the training set's boxes at
  the network input (through the config's own dataset classes), the SSD anchor
  generator, the assigner's thresholds; :class:`DefaultBoxesError`.
* :mod:`.coverage`: the best default box of every ground truth, exactly as the
  model's anchor generator and the assigner's threshold see it, and the best
  IoU any box centred on the grid can reach (the ceiling).
* :mod:`.fit`: a search over per-level sizes and aspect ratios that keeps
  every size bin's coverage.
* :mod:`.input_sizes`: the config at another input size, its FLOPs.
* :mod:`.report`: what is shown and written: the text tables, the ceiling in
  words, the fitted config and its ``--cfg-options`` line, the two pictures.
* :mod:`.analysis`: :class:`DefaultBoxAnalysis`, all of the above end to end.
"""

from .analysis import DefaultBoxAnalysis
from .fit import fit_default_boxes
from .ground_truth import DefaultBoxesError

__all__ = ['DefaultBoxAnalysis', 'DefaultBoxesError', 'fit_default_boxes']
