"""Default-box analysis and fitting (``tools/analysis_tools/default_boxes.py``).

* :mod:`.ground_truth`: the training set's boxes at the network input.
* :mod:`.coverage`: the best default box of every ground truth, exactly as
  the model's anchor generator and the assigner's threshold see it.
* :mod:`.ceiling`: the best IoU any box centred on the grid can reach.
* :mod:`.fit`: a search over per-level sizes and aspect ratios that keeps
  every size bin's coverage.
* :mod:`.input_sizes`: the config at another input size, its FLOPs.
* :mod:`.report`: the report, the fitted config and the ``--cfg-options`` line.
* :mod:`.plots`: the best-IoU histogram and the width/height scatter.
* :mod:`.runner`: :class:`DefaultBoxAnalysis`, all of the above end to end.
"""

from .ceiling import Ceiling, best_centred_iou, grid_ceiling
from .coverage import MatchResult, match_default_boxes, summarize
from .errors import DefaultBoxesError
from .fit import FitResult, fit_default_boxes
from .ground_truth import GroundTruth, load_train_boxes
from .report import (
    anchor_generator_cfg,
    assigner_thresholds,
    build_report,
    cfg_options_line,
    write_fitted_config,
)
from .runner import DefaultBoxAnalysis

__all__ = [
    'Ceiling',
    'DefaultBoxAnalysis',
    'DefaultBoxesError',
    'FitResult',
    'GroundTruth',
    'MatchResult',
    'anchor_generator_cfg',
    'assigner_thresholds',
    'best_centred_iou',
    'build_report',
    'cfg_options_line',
    'fit_default_boxes',
    'grid_ceiling',
    'load_train_boxes',
    'match_default_boxes',
    'summarize',
    'write_fitted_config',
]
