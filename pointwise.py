"""A 1x1 convolution with a stride, trained around a bug of oneDNN, TensorFlow's CPU kernels.

oneDNN computes the weight gradient of a strided 1x1 convolution on channels-last data through
a "reduce to unit stride" workspace that it overruns when the input has fewer channels than
its register block (16 with AVX-512, 8 with AVX2): the process dies (segmentation fault, heap
corruption) or the gradient is silently wrong (oneDNN issue 6035, open). In this project that
is every identity projection of a reduction block (cells.OPS) below --filters=16, seen at
56 x 56 inputs and up.

A 1x1 convolution of stride s reads only the pixels (s*i, s*j): with "same" padding its output
is ceil(H / s) x ceil(W / s) and no padding is added. So training computes it as a stride-1
convolution of x[:, ::s, ::s, :], whose gradient takes no workspace; inference and export run
the strided convolution itself, one CONV_2D in TFLite, the graph lifetime.py counts.
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="memnas")
class StridedPointwise(keras.layers.Conv2D):
    """keras.layers.Conv2D(filters, 1, strides, padding="same", use_bias=False), no
    activation, trained on the subsampled input (same values, another kernel)."""

    def __init__(self, filters, strides, **kwargs):
        kwargs.update(kernel_size=(1, 1), padding="same", use_bias=False)
        super().__init__(filters, strides=strides, **kwargs)

    def call(self, inputs, training=None):
        if not training:
            return super().call(inputs)  # (B, ceil(H/s), ceil(W/s), filters)
        sh, sw = self.strides
        subsampled = inputs[:, ::sh, ::sw, :]  # (B, ceil(H/s), ceil(W/s), C)
        return ops.conv(subsampled, self.kernel, strides=1, padding="valid")
