"""Registries of the ``ssd_plugin`` scope.

Every registry here is a child of MMDetection's registry of the same kind
(not of MMEngine's root, as in mmyolo). Two things follow:

* With ``default_scope='ssd_plugin'`` a plain name resolves here first and then
  falls back to mmdet and mmengine, so ``type='DeltaXYWHBBoxCoder'`` works, and
  ``type='mmdet.ResNet'`` names mmdet's entry explicitly.
* Builds that mmdet performs internally (e.g. the ``BboxOverlaps2D`` inside an
  assigner) resolve from this scope through the parent chain.

The plugin registers its own classes here only. mmdet's entries are never
overwritten, so ``type='mmdet.SSDHead'`` keeps building the framework baseline
next to this plugin's ``SSDHead``.

A parent's entries are only visible once its modules have been imported, so
each registry's ``locations`` lists mmdet's package after the plugin's.
"""

from mmdet import registry as mmdet_registry
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS',
    'RUNNER_CONSTRUCTORS',
    'LOOPS',
    'HOOKS',
    'DATASETS',
    'DATA_SAMPLERS',
    'TRANSFORMS',
    'MODELS',
    'MODEL_WRAPPERS',
    'WEIGHT_INITIALIZERS',
    'OPTIMIZERS',
    'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS',
    'METRICS',
    'EVALUATOR',
    'TASK_UTILS',
    'VISUALIZERS',
    'VISBACKENDS',
    'LOG_PROCESSORS',
    'FUNCTIONS',
]

SCOPE = 'ssd_plugin'


def _child(name: str, parent: Registry, locations: list) -> Registry:
    return Registry(name, parent=parent, scope=SCOPE, locations=locations)


_ENGINE = ['ssd_plugin.engine', 'mmdet.engine']
_MODELS = ['ssd_plugin.models', 'mmdet.models']
_DATA = ['ssd_plugin.datasets', 'mmdet.datasets']

RUNNERS = _child('runner', mmdet_registry.RUNNERS, ['mmdet.engine.runner'])
RUNNER_CONSTRUCTORS = _child(
    'runner constructor', mmdet_registry.RUNNER_CONSTRUCTORS, ['mmdet.engine.runner']
)
LOOPS = _child('loop', mmdet_registry.LOOPS, ['mmdet.engine.runner'])
HOOKS = _child('hook', mmdet_registry.HOOKS, _ENGINE)
DATASETS = _child('dataset', mmdet_registry.DATASETS, _DATA)
DATA_SAMPLERS = _child(
    'data sampler', mmdet_registry.DATA_SAMPLERS, ['ssd_plugin.datasets', 'mmdet.datasets.samplers']
)
TRANSFORMS = _child('transform', mmdet_registry.TRANSFORMS, _DATA)
MODELS = _child('model', mmdet_registry.MODELS, _MODELS)
MODEL_WRAPPERS = _child('model_wrapper', mmdet_registry.MODEL_WRAPPERS, _MODELS)
WEIGHT_INITIALIZERS = _child('weight initializer', mmdet_registry.WEIGHT_INITIALIZERS, _MODELS)
OPTIMIZERS = _child('optimizer', mmdet_registry.OPTIMIZERS, ['mmdet.engine.optimizers'])
OPTIM_WRAPPERS = _child(
    'optim_wrapper', mmdet_registry.OPTIM_WRAPPERS, ['ssd_plugin.engine', 'mmdet.engine.optimizers']
)
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer constructor', mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS, ['mmdet.engine.optimizers']
)
PARAM_SCHEDULERS = _child(
    'parameter scheduler', mmdet_registry.PARAM_SCHEDULERS, ['mmdet.engine.schedulers']
)
METRICS = _child('metric', mmdet_registry.METRICS, ['ssd_plugin.evaluation', 'mmdet.evaluation'])
EVALUATOR = _child('evaluator', mmdet_registry.EVALUATOR, ['mmdet.evaluation'])
TASK_UTILS = _child('task util', mmdet_registry.TASK_UTILS, _MODELS)
VISUALIZERS = _child('visualizer', mmdet_registry.VISUALIZERS, ['mmdet.visualization'])
VISBACKENDS = _child('vis_backend', mmdet_registry.VISBACKENDS, ['mmdet.visualization'])
LOG_PROCESSORS = _child('log_processor', mmdet_registry.LOG_PROCESSORS, ['mmdet.engine'])
# mmdet has no function registry: collate functions (e.g. 'pseudo_collate', built
# by DetInferencer in the current scope) come from mmengine's.
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, ['mmengine.dataset'])
