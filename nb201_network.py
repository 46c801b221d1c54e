"""NAS-Bench-201's whole network (TinyNetwork of the benchmark's code) as a Keras functional
model, for export.py to convert and TFLite-Micro to measure: what ``nb201_graph.network_parts``
describes as nodes, as layers. nb201.py stays NumPy-only; Keras is imported only here.

The network: stem Conv3x3(16) + BN; 3 stages of 5 cells at 16, 32, 64 channels with a residual
reduction block between (conv_a ReLU-Conv3x3 stride 2-BN, conv_b ReLU-Conv3x3-BN, shortcut
AvgPool2x2 + Conv1x1 without BN, their sum); then BN, ReLU, global average pooling and
Dense(classes). In a cell, node j sums one op on each earlier node: nor_conv_KxK is
ReLU-ConvKxK-BN, avg_pool_3x3 a 3x3 average pool at stride 1 that averages over the pixels
inside the image (TensorFlow's 'same' pooling, the benchmark's count_include_pad=False),
skip_connect the identity, none no edge.

Where it departs from the benchmark's PyTorch code, and why:

* Convolutions pad 'same' (TensorFlow's): at stride 2 that pads one pixel after, where PyTorch
  pads one on each side. An explicit pad would be one more tensor for a converter to hold; the
  parameters and every shape are the same.
* BatchNorm has PyTorch's epsilon (1e-5) and momentum (0.1, Keras' 0.9); Keras also keeps the
  moving mean and variance as weights, so its count is ``nb201.param_count`` + 2 per BatchNorm
  channel (PyTorch keeps them as buffers).
* An edge that reads a node which does not depend on the input (a node of none edges only, or
  of edges from such nodes) is left out, as ``nb201_graph.cell_graph`` leaves it out: in the
  benchmark it adds an input-independent map (zero at initialization: none's zeros through a
  conv without bias and a BatchNorm at its initial statistics), which a deployed network folds
  away. Nodes the output does not read are not in a functional model.
* A cell whose output does not depend on its input (``nb201.connected`` False) makes the whole
  network a constant: ``build_model`` refuses it with a ValueError (there is nothing to
  convert; ``nb201_graph.network_parts`` gives it the image alone).
"""

import nb201
import nb201_graph

BN_EPSILON = 1e-5      # PyTorch's
BN_MOMENTUM = 0.9      # PyTorch's 0.1 in the Keras sense


def _bn(name):
    from keras import layers
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _relu_conv_bn(x, channels, kernel, stride, name):
    """ReLU-ConvKxK-BN (the benchmark's ReLUConvBN): layers NAME_relu, NAME (the conv, whose
    name the deployed tensor keeps once BN folds into it) and NAME_bn."""
    from keras import layers
    x = layers.ReLU(name=f"{name}_relu")(x)
    x = layers.Conv2D(channels, kernel, strides=stride, padding="same", use_bias=False,
                      name=name)(x)
    return _bn(f"{name}_bn")(x)


def _cell(cell, x, prefix):
    """The output of one cell on `x`: node j = the sum of the ops on its edges from the nodes
    that depend on the input (node 0 does). Layers are named as ``nb201_graph.cell_graph`` names
    the nodes: PREFIX_nJ_eI_OP for an edge's op, PREFIX_nJ_sum for a sum."""
    from keras import layers
    channels = x.shape[-1]
    where = {0: x}  # node -> its tensor; None for a node that does not depend on the input
    for j in range(1, nb201.NODES + 1):
        summed = []
        for (node, source), op in zip(nb201.EDGES, cell):
            if node != j or op == "none" or where[source] is None:
                continue
            name = f"{prefix}_n{j}_e{source}_{op}"
            if op in nb201_graph.KERNELS:
                summed.append(_relu_conv_bn(where[source], channels, nb201_graph.KERNELS[op], 1,
                                            name))
            elif op == "avg_pool_3x3":
                summed.append(layers.AveragePooling2D(3, 1, padding="same", name=name)(
                    where[source]))
            else:  # skip_connect
                summed.append(where[source])
        where[j] = None if not summed else summed[0] if len(summed) == 1 else \
            layers.Add(name=f"{prefix}_n{j}_sum")(summed)
    return where[nb201.NODES]


def _reduction(x, channels, prefix):
    """The residual block between stages (ResNetBasicblock, stride 2): conv_b(conv_a(x)) +
    shortcut(x), the shortcut a 2x2 average pool and a Conv1x1 without bias or BatchNorm."""
    from keras import layers
    y = _relu_conv_bn(x, channels, 3, 2, f"{prefix}_conv_a")
    y = _relu_conv_bn(y, channels, 3, 1, f"{prefix}_conv_b")
    s = layers.AveragePooling2D(2, 2, name=f"{prefix}_pool")(x)
    s = layers.Conv2D(channels, 1, use_bias=False, name=f"{prefix}_shortcut")(s)
    return layers.Add(name=f"{prefix}_sum")([y, s])


def build_model(cell, classes=10, input_shape=nb201.INPUT_SHAPE):
    """The benchmark's network of `cell` (an nb201.Cell) as a Keras functional model, untrained,
    logits out (no softmax). ValueError for a cell whose output does not depend on its input
    (``nb201.connected``): that network is a constant."""
    if not isinstance(cell, nb201.Cell):
        raise ValueError(f"nb201_network.build_model: {cell!r} is not an nb201.Cell")
    if not nb201.connected(cell):
        raise ValueError(f"NAS-Bench-201 cell {nb201.to_string(cell)}: its output does not "
                         "depend on its input (every path from node 0 to node 3 has a none "
                         "edge), so its network is a constant: nothing to build")
    import keras
    from keras import layers
    image = keras.Input(tuple(input_shape), name="image")
    x = layers.Conv2D(nb201.STAGE_CHANNELS[0], 3, padding="same", use_bias=False,
                      name="stem")(image)
    x = _bn("stem_bn")(x)
    for stage, channels in enumerate(nb201.STAGE_CHANNELS, start=1):
        if stage > 1:
            x = _reduction(x, channels, f"r{stage}")
        for c in range(1, nb201.CELLS_PER_STAGE + 1):
            x = _cell(cell, x, f"s{stage}_c{c}")
    x = _bn("last_bn")(x)
    x = layers.ReLU(name="last_relu")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    logits = layers.Dense(classes, name="logits")(x)
    return keras.Model(image, logits, name="nb201")


def randomize_constants(model, seed=0):
    """Give every BatchNorm of `model` seeded random statistics and affine weights (gamma and
    the variance in [0.5, 1.5], beta and the mean N(0, 0.1)) and the classifier a random bias,
    as a trained network has them: an untrained one's zeros let the converter drop what a
    trained one keeps (the ADD of the last BatchNorm after a sum, the classifier's bias)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c),
                               rng.normal(0, 0.1, c), rng.uniform(0.5, 1.5, c)])
        elif kind == "Dense":
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
