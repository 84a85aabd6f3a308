# The framework baseline: mmdet's own SSD512 (mmdet.SSDHead, MaxIoUAssigner,
# PseudoSampler, mmdet transforms), built in mmdet's scope, for side-by-side
# runs with configs/ssd512_coco.py.
_base_ = 'mmdet::ssd/ssd512_coco.py'

# Importing ssd_plugin also lets mmdet 3.3.0's SSDHead predict (it lacks the
# loss_cls attribute BaseDenseHead reads; docs/architecture.md lists the fix).
custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
