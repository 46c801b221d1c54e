"""The Keras network of an architecture (cells.Arch): stem, five blocks of cells, global average
pooling and dense logits, every operation layer built from the OPS table of cells.py as one
Keras Sequential named cells.op_layer_name, so that the functional model has exactly the nodes
lifetime.py counts. Keras is imported only when a network is built.
"""

import cells


# BatchNorm's momentum in the Keras sense (moving = momentum * moving + (1 - momentum) * batch):
# 0.9 is PyTorch's default of 0.1, which the authors trained with; Keras' own default is 0.99.
BN_MOMENTUM = 0.9


def _keras_layers(spec, filters, stride, bn_momentum):
    """The Keras layers of one primitive layer of cells.OPS."""
    from keras import layers  # here, not at the top: the graph code never loads TensorFlow
    if type(spec) is cells.Pool:
        pool = {"avg": layers.AveragePooling2D, "max": layers.MaxPooling2D}[spec.kind]
        return [pool(3, stride, padding="same")]
    if type(spec) is cells.Depthwise:
        return [layers.DepthwiseConv2D(spec.kernel, stride, padding="same", use_bias=False),
                layers.BatchNormalization(momentum=bn_momentum)]
    strides = tuple(stride if axis in spec.strided else 1 for axis in (0, 1))
    # Keras refuses strides > 1 together with dilation > 1: subsample the stride-1 result.
    subsample = spec.dilation > 1 and max(strides) > 1
    if spec.kernel == (1, 1) and max(strides) > 1:
        import pointwise  # oneDNN's gradient of this convolution can crash: see there
        conv = pointwise.StridedPointwise(filters, strides, kernel_initializer="he_normal")
    else:
        conv = layers.Conv2D(filters, spec.kernel, strides=(1, 1) if subsample else strides,
                             dilation_rate=spec.dilation, padding="same", use_bias=False,
                             kernel_initializer="he_normal")
    out = [conv,
           layers.BatchNormalization(momentum=bn_momentum)] + ([layers.ReLU()] if spec.relu else [])
    return out + [layers.MaxPooling2D(1, strides)] if subsample else out


def build_op(op, filters, stride, name, bn_momentum=BN_MOMENTUM):
    """Operation layer `op` as one Keras Sequential named `name`, so that the functional model
    has exactly one node per operation layer: the nodes lifetime.py counts for an Arch."""
    import keras
    return keras.Sequential([layer for spec in cells.OPS[op]
                             for layer in _keras_layers(spec, filters, stride, bn_momentum)],
                            name=name)


def build_model(arch, filters=64, num_classes=10, input_shape=(32, 32, 3),
                strides=cells.BLOCK_STRIDES, widths=cells.BLOCK_WIDTHS,
                bn_momentum=BN_MOMENTUM):
    """The Keras functional model of `arch`: stem, blocks, global average pooling, dense logits
    (no softmax). The authors' code ended with max-pool + flatten, a larger head. Every
    BatchNorm layer has momentum `bn_momentum` (BN_MOMENTUM: the authors')."""
    import keras
    if len(strides) != len(widths):
        raise ValueError(f"template: {len(strides)} strides but {len(widths)} widths")
    arch = cells.prune(arch, len(strides))
    inputs = keras.Input(input_shape, name="image")
    x = build_op("conv3x3", filters, 1, "stem", bn_momentum)(inputs)
    for b, (block, stride, width) in enumerate(zip(arch.blocks, strides, widths), start=1):
        x = _build_block(block, x, filters * width, stride, f"b{b}", bn_momentum)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    # Logits (and so the loss) in float32 under a mixed dtype policy too (train.py
    # --mixed_precision), as Keras advises for the last layer; unchanged under the default one.
    outputs = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="memnas")


def _build_block(block, x, filters, stride, prefix, bn_momentum):
    from keras import layers
    locations = [x]  # (B, H, W, C) tensors: the block input, then each cell's output
    for j, cell in enumerate(block, start=1):
        outs = []
        for i, (loc, op) in enumerate(cell.layers, start=1):
            s = stride if loc == 0 else 1  # cell outputs are already downsampled
            src = locations[loc]
            bare = cells.makes_no_layer(op, s, src.shape[-1], filters)
            name = cells.op_layer_name(prefix, j, i, op)
            outs.append(src if bare else build_op(op, filters, s, name, bn_momentum)(src))
        combine = {"sum": layers.Add, "concat": layers.Concatenate}[cell.combine]
        out = outs[0] if len(outs) == 1 else combine(name=f"{prefix}_c{j}_{cell.combine}")(outs)
        locations.append(layers.Identity(name=cells.output_marker(prefix, j))(out))
    outputs = [locations[j] for j, cell in enumerate(block, start=1) if cell.output]
    if len(outputs) > 1:
        outputs = [layers.Concatenate(name=f"{prefix}_out")(outputs)]
    return layers.Identity(name=cells.output_marker(prefix))(outputs[0])
