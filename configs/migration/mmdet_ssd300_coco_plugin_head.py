# Migrating from mmdet: mmdet's own SSD300 config as it is, with only the head taken
# from the plugin (docs/mmdet_compatibility.md). The head works with mmdet's
# SSDAnchorGenerator, which builds the same default boxes at 300 px, and maps mmdet's
# MaxIoUAssigner and PseudoSampler in the train_cfg onto its batched assigner and
# 3:1 hard negative mining (logged once); everything else (backbone, neck, data,
# schedule, hooks) is mmdet's and resolves in mmdet's scope.
_base_ = 'mmdet::ssd/ssd300_coco.py'

custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
model = dict(bbox_head=dict(type='ssd_plugin.SSDHead'))
