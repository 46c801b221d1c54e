"""The NAS-Bench-201 network as lifetime.py's nodes: what `lifetime.parts_memory` measures for
the benchmark's cells, as graph.py gives them for our space.

* ``network_parts``: the benchmark's whole network (stem, 3 x 5 cells, two residual reduction
  blocks, head) as parts run one after the other; ``cell_graph`` and ``reduction_graph`` are
  its cells and blocks. By default Figure 3's rule 1 (op-level nodes, what the paper schedule
  counts); with ``primitives``, the tensors TensorFlow Lite holds, in the order it runs them
  (what the deployed schedules count, checked against TFLite-Micro by bench/nb201_tflite.py).
* ``int8_param_bytes``: the parameters of those tensors as an int8 .tflite file stores them.

Plain Python and NumPy: no TensorFlow.
"""

from typing import NamedTuple

import tflm
from graph import Node
from nb201 import CELLS_PER_STAGE, EDGES, INPUT_SHAPE, NODES, STAGE_CHANNELS


# ---------------------------------------------------------------------------------------------
# The network as lifetime.py's nodes
# ---------------------------------------------------------------------------------------------

KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}  # ReLU-ConvKxK-BN


def _op_node(op, name, source, shape):
    """The node of an edge's operation reading node `source` (rule 1: the BatchNorm folded
    into the conv before it, one bias per channel; the ReLU before the conv fused), or None for
    skip_connect, which is its input (an identity makes no node)."""
    if op == "skip_connect":
        return None
    channels = shape[-1]
    params = KERNELS[op] ** 2 * channels * channels + channels if op in KERNELS else 0
    return Node(name, shape, (source,), params)


def cell_graph(cell, shape, prefix="s1_c1", primitives=False):
    """Nodes of one cell at `shape` (H, W, C), node 0 its input; (nodes, index of the output
    node), or None when the output does not depend on the input (a constant: every path from
    node 0 to node 3 has a ``none`` edge).

    Node j of the cell sums its incoming edges: the nodes are the ops' outputs and, where a node
    sums two or more, the sum; a ``none`` edge is no edge, ``skip_connect`` passes its input on.
    Nodes that do not depend on the input are constants and make no node; nodes the output does
    not read are dead and are dropped, as a converter drops them. With `primitives`, the
    tensors TensorFlow Lite holds instead, in the order it runs them (`cell_tensors`).
    """
    if primitives:
        return cell_tensors(cell, shape, prefix)
    nodes, where = [Node("input", tuple(shape))], {0: 0}
    for j in range(1, NODES + 1):
        summed = []
        for (node, source), op in zip(EDGES, cell):
            if node != j or op == "none" or where.get(source) is None:
                continue
            made = _op_node(op, f"{prefix}_n{j}_e{source}_{op}", where[source], tuple(shape))
            if made is not None:
                nodes.append(made)
            summed.append(where[source] if made is None else len(nodes) - 1)
        if len(summed) > 1:
            nodes.append(Node(f"{prefix}_n{j}_sum", tuple(shape), tuple(summed)))
        where[j] = None if not summed else summed[0] if len(summed) == 1 else len(nodes) - 1
    if where[NODES] is None:
        return None
    return _live(nodes, where[NODES])


def _live(nodes, out):
    """(nodes, out) without the nodes `out` does not read, directly or not; node 0 kept."""
    needed = {0, out}
    for k in range(out, 0, -1):
        if k in needed:
            needed.update(nodes[k].inputs)
    keep = sorted(needed)
    index = {old: new for new, old in enumerate(keep)}
    return ([nodes[k]._replace(inputs=tuple(index[i] for i in nodes[k].inputs)) for k in keep],
            index[out])


def reduction_graph(shape, channels, prefix, primitives=False):
    """The residual block between stages (ResNetBasicblock, stride 2), node 0 its input: conv_a
    (ReLU-Conv3x3 stride 2-BN) and conv_b (ReLU-Conv3x3-BN), beside a shortcut of a 2x2 average
    pool and a Conv1x1 without BatchNorm, then their sum. With `primitives`, the tensors
    TensorFlow Lite holds: the same and, first, the ReLU of the input, a tensor of its own
    because the shortcut reads the input as it is (conv_b's ReLU fuses into conv_a)."""
    c_in = shape[-1]
    half = (shape[0] // 2, shape[1] // 2)
    if primitives:
        return _converted(_reduction_ops(shape, channels, prefix), 7)
    return [Node("input", tuple(shape)),
            Node(f"{prefix}_conv_a", (*half, channels), (0,), 9 * c_in * channels + channels),
            Node(f"{prefix}_conv_b", (*half, channels), (1,), 9 * channels * channels + channels),
            Node(f"{prefix}_pool", (*half, c_in), (0,)),
            Node(f"{prefix}_shortcut", (*half, channels), (3,), c_in * channels),
            Node(f"{prefix}_sum", (*half, channels), (2, 4))], 5


def network_parts(cell, classes=10, input_shape=INPUT_SHAPE, primitives=False):
    """The benchmark's network (see `param_count`) as parts run one after the other, each
    [(nodes, output index)] with node 0 its input: the stem, 5 cells, a reduction block, 5
    cells, a reduction block, 5 cells, the head. A cell whose output does not depend on its
    input makes the whole network a constant: its only part is the image.

    The stem's BatchNorm is folded into its conv; the last BatchNorm and ReLU, before the
    global pooling, are fused into the last cell's output node (rule 1), their 2 C parameters
    counted on the pooling node. With `primitives`, every part is the tensors TensorFlow Lite
    holds, in the order it runs them (`cell_tensors`, `reduction_graph`, `head_tensors`): what
    the deployed schedules (lifetime.DEPLOYED) measure, as graph.network_parts gives them for
    our space.
    """
    image = Node("image", tuple(input_shape))
    shape = (*input_shape[:2], STAGE_CHANNELS[0])
    parts = [([image, Node("stem", shape, (0,), 9 * input_shape[-1] * shape[-1] + shape[-1])],
              1)]
    for stage, channels in enumerate(STAGE_CHANNELS, start=1):
        if stage > 1:
            parts.append(reduction_graph(shape, channels, f"r{stage}", primitives))
            shape = (shape[0] // 2, shape[1] // 2, channels)
        for c in range(1, CELLS_PER_STAGE + 1):
            part = cell_graph(cell, shape, f"s{stage}_c{c}", primitives)
            if part is None:
                return [([image], 0)]
            parts.append(part)
    last = shape[-1]
    if primitives:
        nodes, out = parts[-1]
        parts.append(head_tensors(shape, classes, folded=nodes[out].params > 0))
        return parts
    parts.append(([Node("input", shape), Node("gap", (last,), (0,), 2 * last),
                   Node("logits", (classes,), (1,), last * classes + classes)], 2))
    return parts


# ---------------------------------------------------------------------------------------------
# The network as TensorFlow Lite holds it (primitives)
# ---------------------------------------------------------------------------------------------

class _Op(NamedTuple):
    """An operation of the network's TensorFlow graph: the node of its output, what it is
    (ops of one kind on the same tensors compute the same thing: "relu", "pool3", "pool2",
    "add"; None for the others, convs among them, whose weights differ), and its name in the
    graph (layer name + "_1/" + TensorFlow op, as Keras' export names it), which orders it."""
    node: Node
    kind: str = None
    tf_name: str = ""


MERGED = ("relu", "pool3", "pool2", "add")  # kinds the converter merges (CSE)


def _converted(ops, out):
    """(nodes, output index) of a part given as the operations of its TensorFlow graph, op 0
    its input and every op after its inputs, as TensorFlow Lite's converter (TF 2.21) turns
    them into tensors:

    1. ops the output does not read are not in the graph;
    2. order: TensorFlow imports a graph in the reverse post-order of a depth-first search
       from the input whose stack takes an op's consumers in ascending order of name, so it
       follows them in descending order; the converter keeps that order;
    3. ops of a kind in MERGED on the same tensors are merged into the first (its CSE): one
       ReLU per tensor, one 3x3 pool of a node, one sum of the same two tensors;
    4. a ReLU fuses into the op before it (no tensor of its own) unless another op reads that
       op's output as it is; a part's input is then the ReLU'd tensor, the same size.
    """
    nodes = [op.node for op in ops]
    live = {0, out}
    for k in range(out, 0, -1):
        if k in live:
            live.update(nodes[k].inputs)
    readers = {k: set() for k in live}
    for k in live:
        for i in nodes[k].inputs:
            readers[i].add(k)
    order, seen, stack = [], set(), [(0, False)]
    while stack:  # depth-first, TensorFlow's GetReversePostOrder with its name comparator
        k, leave = stack.pop()
        if leave:
            order.append(k)
        elif k not in seen:
            seen.add(k)
            stack.append((k, True))
            stack += [(c, False) for c in sorted(readers[k], key=lambda c: ops[c].tf_name)
                      if c not in seen]
    order.reverse()
    same, first, kept = {}, {}, []  # same: op -> the op whose tensor it is
    for k in order:
        inputs = tuple(same[i] for i in nodes[k].inputs)
        key = (ops[k].kind, inputs)
        if ops[k].kind in MERGED and key in first:
            same[k] = first[key]
            continue
        first[key] = same[k] = k
        kept.append((k, inputs))
    read_by = {}
    for k, inputs in kept:
        for i in set(inputs):
            read_by.setdefault(i, set()).add(k)
    for k, inputs in kept:
        if ops[k].kind == "relu" and read_by[inputs[0]] == {k}:
            same[k] = inputs[0]  # fused
    index = {}
    for k, inputs in kept:
        if same[k] == k:
            index[k] = len(index)
    return ([nodes[k]._replace(inputs=tuple(index[same[i]] for i in inputs))
             for k, inputs in kept if same[k] == k], index[same[out]])


def _relu_conv(ops, source, name, shape, params):
    """Append ReLU-Conv-BN (the BatchNorm folded: one bias per channel) reading op `source`
    and giving `shape`; the conv's index."""
    ops.append(_Op(Node(f"{name}_relu", ops[source].node.shape, (source,)), "relu",
                   f"{name}_relu_1/Relu"))
    ops.append(_Op(Node(name, shape, (len(ops) - 1,), params), None, f"{name}_1/convolution"))
    return len(ops) - 1


def cell_tensors(cell, shape, prefix="s1_c1"):
    """The tensors TensorFlow Lite holds for one cell (node 0 its input), in the order it runs
    them: (nodes, output index), or None as `cell_graph`. A nor_conv edge is a ReLU and a conv
    (BatchNorm folded), the ReLU a tensor of its own only where another op reads the same
    tensor as it is (a skip_connect into a sum, an avg_pool, the reduction's shortcut);
    avg_pool_3x3 is a pool; a sum of n ops is n - 1 additions, ((a + b) + c) as Keras adds;
    identical ReLUs, pools and additions on the same tensors are one (`_converted`)."""
    shape = tuple(shape)
    ops, where = [_Op(Node("input", shape), "input")], {0: 0}
    for j in range(1, NODES + 1):
        summed = []
        for (node, source), op in zip(EDGES, cell):
            if node != j or op == "none" or where.get(source) is None:
                continue
            name = f"{prefix}_n{j}_e{source}_{op}"
            if op in KERNELS:
                channels = shape[-1]
                summed.append(_relu_conv(ops, where[source], name, shape,
                                         KERNELS[op] ** 2 * channels * channels + channels))
            elif op == "avg_pool_3x3":
                ops.append(_Op(Node(name, shape, (where[source],)), "pool3",
                               f"{name}_1/AvgPool"))
                summed.append(len(ops) - 1)
            else:  # skip_connect
                summed.append(where[source])
        for k, other in enumerate(summed[1:]):  # TensorFlow names them Add, Add_1
            name = f"{prefix}_n{j}_sum" + ("" if k == len(summed) - 2 else f"/{k}")
            ops.append(_Op(Node(name, shape, (summed[0], other)), "add",
                           f"{prefix}_n{j}_sum_1/Add" + (f"_{k}" if k else "")))
            summed[0] = len(ops) - 1
        where[j] = summed[0] if summed else None
    if where[NODES] is None:
        return None
    return _converted(ops, where[NODES])


def _reduction_ops(shape, channels, prefix):
    """The reduction block's TensorFlow ops (op 7 its sum), for `_converted`."""
    c_in = shape[-1]
    half = (shape[0] // 2, shape[1] // 2)
    ops = [_Op(Node("input", tuple(shape)), "input")]
    a = _relu_conv(ops, 0, f"{prefix}_conv_a", (*half, channels), 9 * c_in * channels + channels)
    b = _relu_conv(ops, a, f"{prefix}_conv_b", (*half, channels), 9 * channels * channels +
                   channels)
    ops.append(_Op(Node(f"{prefix}_pool", (*half, c_in), (0,)), "pool2",
                   f"{prefix}_pool_1/AvgPool"))
    # The converter gives the shortcut conv, which has no bias, a zero one (int32 when int8).
    ops.append(_Op(Node(f"{prefix}_shortcut", (*half, channels), (5,), c_in * channels +
                        channels), None, f"{prefix}_shortcut_1/convolution"))
    ops.append(_Op(Node(f"{prefix}_sum", (*half, channels), (b, 6)), "add",
                   f"{prefix}_sum_1/Add"))
    return ops


def head_tensors(shape, classes, folded):
    """The head's tensors: the last BatchNorm and ReLU, global pooling, the classifier. If the
    last cell's output is a conv (`folded`), the BatchNorm folds into it and the ReLU fuses:
    no tensor of their own, no parameter. Else the BatchNorm is a MUL (its scale, C
    parameters) and an ADD (its shift, C parameters) with the ReLU fused, two tensors."""
    last = shape[-1]
    nodes = [Node("input", tuple(shape))]
    if not folded:
        nodes += [Node("last_bn/mul", tuple(shape), (0,), last),
                  Node("last_bn", tuple(shape), (1,), last)]
    nodes += [Node("gap", (last,), (len(nodes) - 1,)),
              Node("logits", (classes,), (len(nodes),), last * classes + classes)]
    return nodes, len(nodes) - 1


HEAD_BN = ("last_bn/mul", "last_bn")  # the last BatchNorm's MUL and ADD, when not folded


def deployed_params(parts):
    """The parameters of a network given as `network_parts(..., primitives=True)`: as the
    converter writes them (BatchNorm folded, its own constants), which is p whatever the
    schedule of r."""
    return sum(node.params for nodes, _ in parts for node in nodes)


def int8_param_bytes(nodes):
    """Parameter bytes of the network's tensors (`network_parts` with `primitives`, joined)
    deployed as int8, as the .tflite file stores them: tflm.int8_param_bytes for the convs and
    the classifier (int8 weights, one int32 bias per output channel, the shortcut's zero one
    too), and 1 byte per constant of the last BatchNorm's MUL and ADD (int8, no bias). The
    pooling's two int32 axes (8 bytes) are not parameters."""
    kept = [n for n in nodes if n.name not in HEAD_BN]
    return tflm.int8_param_bytes(kept) + sum(n.params for n in nodes if n.name in HEAD_BN)
