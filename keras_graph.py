"""The graph of any Keras functional model, as graph.py's nodes: one per layer, BatchNorm and
activations fused into the layer before them, parameters counted as deployed (BatchNorm folded
into the convolution before it). How lifetime.py measures the baselines of Tables 1 and 2; for a
model network.build_model made, the nodes graph.arch_graph gives for its Arch.

Reads a functional model's call graph through Keras' private `keras.src` API (`_inbound_nodes`,
`_keras_history`, `make_node_key`): Keras 3 has no public one.
"""

import math

import cells
from graph import Node, dilated_tensors



# Layers a deployed network fuses into the layer before them: they make no node of their own.
FUSED_LAYERS = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU",
                "Softmax", "Dropout", "ZeroPadding2D", "Flatten", "Reshape", "Identity",
                "Rescaling", "Normalization")
_CONV_LAYERS = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "Dense",
                "StridedPointwise")  # pointwise.py's Conv2D


def _call_node(model, op):
    """The node where `op` is called inside the functional `model` (a layer may be shared)."""
    from keras.src.ops.function import make_node_key
    return next(node for i, node in enumerate(op._inbound_nodes)
                if make_node_key(op, i) in model._nodes)


def _producers(model):
    """(layer, the layer whose output it reads or None) for the direct sub-layers of `model`."""
    if hasattr(model, "operations") and hasattr(model, "_nodes"):  # functional
        pairs = []
        for op in model.operations:
            tensors = _call_node(model, op).input_tensors
            pairs.append((op, tensors[0]._keras_history.operation if tensors else None))
        return pairs
    layers = list(getattr(model, "layers", []))  # Sequential
    return list(zip(layers, [None] + layers[:-1]))


def folded_params(layer, producer=None):
    """Parameters at inference: BatchNorm folded into the conv before it.

    BN after a conv without bias adds one bias per channel (C); after a conv with bias, nothing;
    BN anywhere else stays a per-channel scale and shift (2C).
    """
    if getattr(layer, "layers", None):  # a nested model: count its own layers
        layer = getattr(layer, "_functional", None) or layer  # a Sequential's inner graph
        return sum(folded_params(sub, prev) for sub, prev in _producers(layer))
    if type(layer).__name__ == "BatchNormalization":
        channels = int(layer.moving_mean.shape[0])
        if type(producer).__name__ in _CONV_LAYERS:
            return 0 if producer.use_bias else channels
        return 2 * channels
    return _own_params(layer)


def _own_params(op):
    """A raw `keras.ops` call in a functional model is an Operation, not a Layer: no weights."""
    return op.count_params() if hasattr(op, "count_params") else 0


def model_graph(model, primitives=False):
    """Nodes of a Keras functional model: one per layer, fused layers aliasing their input.
    With `primitives`, a nested model (an operation layer of network.build_model, a
    keras.Sequential) is its own layers' nodes, named as `block_graph` names them, not one node.

    A model network.build_model made marks each cell's and each block's output with an Identity
    layer (cells.output_marker): those cell outputs hold until their block's output (rule 3),
    so the paper schedule gives what it gives for the Arch. Any other model has no cells.
    """
    nodes, where = [], {}  # where: (id(op), tensor index) -> node index
    cell_outputs = {}  # block prefix -> node indices of its marked cell outputs
    for op, producer in _producers(model):
        node = _call_node(model, op)
        ins = []
        for t in node.input_tensors:
            history = t._keras_history
            k = where[(id(history.operation), history.tensor_index)]
            if k not in ins:
                ins.append(k)
        kind = type(op).__name__
        inner = getattr(op, "_functional", None) or op
        if primitives and getattr(op, "layers", None) and len(ins) == 1:
            tensors = model_graph(inner, primitives)[1:]  # its node 0 is its input
            for j, sub in enumerate(tensors):
                nodes.append(sub._replace(
                    name=op.name if j == len(tensors) - 1 else f"{op.name}/{j}",
                    inputs=tuple(ins[0] if i == 0 else len(nodes) - j + i - 1
                                 for i in sub.inputs)))
            k = len(nodes) - 1
        elif primitives and kind == "Conv2D" and max(op.dilation_rate) > 1:
            # As the converter lowers it (graph.dilated_tensors); the space-to-batch tensor is
            # not shared here, where a Keras model has no cells to find its readers in.
            shape = tuple(node.input_tensors[0].shape[1:])
            tensors = dilated_tensors(tuple(op.kernel_size), max(op.dilation_rate),
                                      shape, op.filters)
            for j, (sub_shape, params) in enumerate(tensors):
                last = j == len(tensors) - 1
                nodes.append(Node(op.name if last else f"{op.name}/{j}", sub_shape,
                                  (ins[0] if j == 0 else len(nodes) - 1,),
                                  folded_params(op, producer) if j == 1 else 0))
            k = len(nodes) - 1
        elif kind in FUSED_LAYERS and len(ins) == 1:
            k = ins[0]
            if _own_params(op):  # folded into the node it follows
                nodes[k] = nodes[k]._replace(params=nodes[k].params + folded_params(op, producer))
        else:
            shapes = [tuple(t.shape[1:]) for t in node.output_tensors]
            if any(d is None for s in shapes for d in s):
                raise ValueError(f"layer {op.name}: output shape {shapes} is not fixed; build "
                                 "the model with a fixed input_shape")
            size_shape = shapes[0] if len(shapes) == 1 else (sum(math.prod(s) for s in shapes),)
            nodes.append(Node(op.name, size_shape, tuple(ins), folded_params(op, producer)))
            k = len(nodes) - 1
        for i in range(len(node.output_tensors)):
            where[(id(op), i)] = k
        marker = cells.OUTPUT_MARKER.fullmatch(op.name) if kind == "Identity" else None
        if marker and marker[2]:
            cell_outputs.setdefault(marker[1], []).append(k)
        elif marker:  # a block output: every cell output of its block is computed by now
            for cell_output in set(cell_outputs.pop(marker[1], ())) - {k}:
                nodes[cell_output] = nodes[cell_output]._replace(hold=k)
    return nodes
