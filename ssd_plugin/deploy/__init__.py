from .ssd_onnx_wrapper import SSDOnnxWrapper, check_input_size

__all__ = ['SSDOnnxWrapper', 'check_input_size']
