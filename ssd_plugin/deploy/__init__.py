from .ssd_onnx_wrapper import SSDOnnxWrapper

__all__ = ['SSDOnnxWrapper']
