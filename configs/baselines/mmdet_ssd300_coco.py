# The framework baseline: mmdet's own SSD300 (mmdet.SSDHead, MaxIoUAssigner,
# PseudoSampler, mmdet transforms), built in mmdet's scope, for side-by-side
# runs with configs/ssd300_coco.py.
_base_ = 'mmdet::ssd/ssd300_coco.py'

custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
# mmdet 3.3.0's SSDHead cannot predict (BaseDenseHead reads self.loss_cls,
# which SSDHead never sets): the hook gives it loss_cls = None, nothing else.
custom_hooks = [*_base_.custom_hooks, dict(type='ssd_plugin.MMDetSSDHeadCompatHook')]
