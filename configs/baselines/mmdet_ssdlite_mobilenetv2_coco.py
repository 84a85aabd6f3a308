# The framework baseline: mmdet's own SSDLite MobileNetV2 (600e config), built
# in mmdet's scope, for side-by-side runs with configs/ssdlite_mobilenetv2_coco.py.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

# Importing ssd_plugin also lets mmdet 3.3.0's SSDHead predict (it lacks the
# loss_cls attribute BaseDenseHead reads; docs/architecture.md lists the fix).
custom_imports = dict(imports=['ssd_plugin'], allow_failed_imports=False)
