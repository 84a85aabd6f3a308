# Runtime of the plugin's configs: mmdet's default_runtime, written in the
# plugin's scope (a base taken through `mmdet::` would stamp _scope_='mmdet' on
# its hooks and visualizer), plus the plugin's safety hooks.
default_scope = 'ssd_plugin'
custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Atomic checkpoint writes: a run killed mid-save leaves no truncated file.
    checkpoint=dict(type='CheckpointHook', interval=1, backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'),
)
custom_hooks = [
    dict(type='NumClassCheckHook'),  # num_classes vs the dataset's classes (mmdet's)
    # Before training: the anchor levels/strides vs the feature maps of a dummy
    # forward (docs/robustness.md).
    dict(type='ssd_plugin.SSDConfigCheckHook'),
    # Skips updates with non-finite gradients, loss or BN statistics; stops after 3 in
    # a row naming the last checkpoint with finite weights (docs/robustness.md).
    dict(type='ssd_plugin.InvalidLossGuardHook', interval=1),
    # Random generator states in checkpoints, restored on --resume.
    dict(type='ssd_plugin.RNGStateHook'),
    # --resume from inside an epoch continues it at the next unseen batch.
    dict(type='ssd_plugin.MidEpochResumeHook'),
    dict(type='ssd_plugin.CheckpointOrderHook'),  # old checkpoints deleted after the new one
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # the tools switch to gloo where CUDA is absent
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
