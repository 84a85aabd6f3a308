# Migrating from mmdet: mmdet's own SSD300 config as it is, with only the head and
# its anchor generator taken from the plugin (docs/mmdet_compatibility.md). mmdet's
# MaxIoUAssigner and PseudoSampler in its train_cfg are mapped onto the plugin's
# batched assigner and 3:1 hard negative mining (logged once); everything else
# (backbone, neck, data, schedule, hooks) is mmdet's and resolves in mmdet's scope.
_base_ = 'mmdet::ssd/ssd300_coco.py'

custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
model = dict(
    bbox_head=dict(
        type='ssd_plugin.SSDHead', anchor_generator=dict(type='ssd_plugin.SSDAnchorGenerator')
    )
)
