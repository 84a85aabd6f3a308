"""Default-box analysis and fitting (``tools/analysis_tools/default_boxes.py``).

* :mod:`.ground_truth`: the training set's boxes at the network input, read
  through the config's own dataset classes.
* :mod:`.coverage`: the best default box of every ground truth, exactly as
  the model's anchor generator and the assigner's threshold see it.
* :mod:`.ceiling`: the best IoU any box centred on the grid can reach.
* :mod:`.fit`: a search over per-level sizes and aspect ratios that keeps
  every size bin's coverage.
* :mod:`.input_sizes`: the config at another input size, its FLOPs.
* :mod:`.report`: what the tool reads from a config and writes: the report,
  its text tables, the ``--cfg-options`` line, the fitted config's check.
* :mod:`.plots`: the best-IoU histogram and the width/height scatter.
* :mod:`.analysis`: :class:`DefaultBoxAnalysis`, all of the above end to end,
  and the fitted configs.
"""

from .analysis import DefaultBoxAnalysis
from .errors import DefaultBoxesError
from .fit import fit_default_boxes

__all__ = ['DefaultBoxAnalysis', 'DefaultBoxesError', 'fit_default_boxes']
