"""pointwise.StridedPointwise: the strided 1x1 convolution trained around oneDNN's bug."""
import numpy as np
import keras
import pytest

import cells
import network
import pointwise


@pytest.mark.parametrize("size", [7, 8])
def test_training_and_inference_compute_the_strided_convolution(size):
    layer = pointwise.StridedPointwise(5, (2, 2))
    x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype(np.float32)
    inference = np.asarray(layer(x, training=False))
    training = np.asarray(layer(x, training=True))
    kernel = np.asarray(layer.kernel)[0, 0]  # (C, filters)
    by_hand = x[:, ::2, ::2, :] @ kernel  # (B, ceil(H/2), ceil(W/2), filters)
    assert inference.shape == training.shape == (2, (size + 1) // 2, (size + 1) // 2, 5)
    np.testing.assert_allclose(inference, by_hand, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(training, by_hand, rtol=1e-5, atol=1e-5)


def test_its_kernel_gradient_is_the_one_of_the_subsampled_input():
    import tensorflow as tf
    layer = pointwise.StridedPointwise(4, (2, 2))
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 6, 6, 3)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True))
    gradient = tape.gradient(loss, layer.kernel)  # d sum / d w[c, f] = sum of x[..., c]
    by_hand = np.broadcast_to(x.numpy()[:, ::2, ::2, :].sum((0, 1, 2))[:, None], (3, 4))
    np.testing.assert_allclose(gradient.numpy()[0, 0], by_hand, rtol=1e-5)


def test_a_reduction_blocks_identity_projection_uses_it_and_trains_at_64x64_on_4_filters(
        tmp_path):
    """The shape that crashed the process (oneDNN issue 6035): 4 input channels, 64 x 64."""
    arch = cells.one_cell("identity", "avgpool3x3")
    model = network.build_model(arch, 4, 3, (64, 64, 3))
    strided = [layer for layer in model.layers if "_l1_identity" in layer.name
               and any(isinstance(sub, pointwise.StridedPointwise) for sub in layer.layers)]
    assert strided  # block 2's (stride 2) identity is a projection
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(size=(8, 64, 64, 3)).astype(np.float32)
    history = model.fit(x, np.zeros(8), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
