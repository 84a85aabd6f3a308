from .ssd_onnx_wrapper import SSDOnnxWrapper, check_input_size, left_out_of_plain_nms

__all__ = ['SSDOnnxWrapper', 'check_input_size', 'left_out_of_plain_nms']
