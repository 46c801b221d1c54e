"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020; NATS-Bench's topology space): a second
search space for the controllers of ``scc.py``, one whose 15,625 cells all have real, fully
trained accuracies.

A cell is a DAG of 4 nodes; node j (1..3) sums one operation on each earlier node i < j, so a
cell is the op on each of its 6 edges, one of ``OPS``. The benchmark writes it as

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|

one ``|``-delimited group per node 1..3 (``+`` between groups), edge ``op~i`` reading node i,
in the order of ``EDGES``. The network stacks the cell 3 x 5 times (``param_count``).

* ``Cell``: the 6 edge ops, a NamedTuple; ``parse`` / ``to_string`` convert from and to the
  benchmark's string, and ``parse`` rejects a malformed one with a ValueError naming the rule
  it breaks and the string.
* ``tokens``: a cell as 6 tokens for ``scc.encode``, one per edge: the one-hot of its position
  (which edge, so which pair of nodes) and the one-hot of its op. No token is all zero (the
  position bit is always set), which ``scc`` needs: an all-zero token is padding.
* ``read_csv``: the benchmark's accuracies (``reproduce/data/nb201_cifar10.csv``), one-line
  errors naming the file, line or column.
* ``param_count``: the parameters of the benchmark's network, by formula.
* ``network_parts``: the benchmark's network as lifetime.py's nodes (Figure 3's rule 1), for
  ``lifetime.parts_memory``'s schedules, or with ``primitives`` as the tensors TensorFlow Lite
  holds (``cell_tensors``); ``connected``: whether its output depends on its input;
  ``int8_param_bytes``: its parameters as an int8 .tflite file stores them.
* ``generate``: a round's candidates, grow and trim as Eq. 1 and 2 make them in our space.

Plain Python and NumPy: no TensorFlow.
"""

import csv
import os
from typing import NamedTuple

import numpy as np

import grow_trim
import tflm
from graph import Node

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (node, input node) of the 6 edges, in the order the string lists them.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NODES = 3  # nodes computed by a cell (node 0 is its input)
TOKEN_WIDTH = len(EDGES) + len(OPS)  # one-hot edge position, then one-hot op
ACCURACY_COLUMN = "cifar10_test_accuracy_200ep"
BENCHMARK = "nb201"  # --benchmark=nb201 or nb201:PATH
# The benchmark's CIFAR-10 test accuracies after 200 epochs, shipped with the project.
DEFAULT_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reproduce", "data",
                           "nb201_cifar10.csv")
# The benchmark's network (TinyNetwork of the NAS-Bench-201 code): channels per stage, cells
# per stage, and the channels of the stem.
STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
INPUT_SHAPE = (32, 32, 3)  # CIFAR's


class Cell(NamedTuple):
    """The op of each edge, named edge_NODE_INPUT (node NODE reads node INPUT through it)."""
    edge_1_0: str
    edge_2_0: str
    edge_2_1: str
    edge_3_0: str
    edge_3_1: str
    edge_3_2: str


def _broken(text, rule):
    return ValueError(f"NAS-Bench-201 cell {text!r}: {rule}")


def parse(text):
    """The Cell of a benchmark string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``.

    Raises ValueError naming the rule the string breaks: 3 groups joined by '+', each group
    enclosed in '|', node j's group has j edges, an edge is OP~INPUT, OP is one of OPS and node
    j's edges read nodes 0..j-1 in order.
    """
    if not isinstance(text, str):
        raise _broken(text, "must be a string")
    groups = text.split("+")
    if len(groups) != NODES:
        raise _broken(text, f"must be {NODES} groups (nodes 1..{NODES}) joined by '+', "
                      f"found {len(groups)}")
    ops = []
    for node, group in enumerate(groups, 1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise _broken(text, f"node {node}'s group {group!r} must start and end with '|'")
        edges = group[1:-1].split("|")
        if len(edges) != node:
            raise _broken(text, f"node {node} must have {node} edges (one per earlier node), "
                          f"found {len(edges)}")
        for source, edge in enumerate(edges):
            op, tilde, index = edge.partition("~")
            if not tilde:
                raise _broken(text, f"edge {edge!r} must be OP~INPUT")
            if op not in OPS:
                raise _broken(text, f"op {op!r} is not one of {', '.join(OPS)}")
            if index != str(source):
                raise _broken(text, f"node {node}'s edges must read nodes "
                              f"{', '.join(map(str, range(node)))} in order; edge {source + 1} "
                              f"reads {index!r}")
            ops.append(op)
    return Cell(*ops)


def to_string(cell):
    """The benchmark's string of `cell`: parse(to_string(cell)) == cell."""
    groups, ops = [], iter(cell)
    for node in range(1, NODES + 1):
        groups.append("|" + "|".join(f"{next(ops)}~{source}" for source in range(node)) + "|")
    return "+".join(groups)


def tokens(cell):
    """(6, TOKEN_WIDTH) float32: per edge, in EDGES order, the one-hot of its position and the
    one-hot of its op."""
    if not isinstance(cell, Cell):
        raise ValueError(f"nb201.tokens: {cell!r} is not an nb201.Cell")
    out = np.zeros((len(EDGES), TOKEN_WIDTH), np.float32)
    out[np.arange(len(EDGES)), np.arange(len(EDGES))] = 1
    out[np.arange(len(EDGES)), [len(EDGES) + OPS.index(op) for op in cell]] = 1
    return out


def param_count(cell, classes=10):
    """Parameters of the benchmark's network for `cell`, by formula (PyTorch counting, as the
    benchmark reports them: a BatchNorm has 2 per channel, its running statistics are buffers).

    The network: stem Conv3x3(3 -> 16, no bias) + BN; 3 stages of 5 cells at C = 16, 32, 64,
    a residual reduction block between stages (ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN, and
    a shortcut AvgPool2x2 + Conv1x1 with no bias), then BN, ReLU, global pooling and
    Linear(64 -> classes). In a cell, nor_conv_KxK is ReLU-ConvKxK(C -> C, no bias)-BN:
    K*K*C*C + 2*C parameters; none, skip_connect and avg_pool_3x3 have none.

    Matches the benchmark's published range on CIFAR-10, 0.073306 to 1.531546 M (no conv,
    all nor_conv_3x3), and 0.079156 M for the smallest on CIFAR-100 (classes=100).
    """
    fixed = 3 * 9 * 16 + 2 * 16  # stem
    for c_in, c_out in zip(STAGE_CHANNELS, STAGE_CHANNELS[1:]):  # reduction blocks
        fixed += (9 * c_in * c_out + 2 * c_out) + (9 * c_out * c_out + 2 * c_out) + c_in * c_out
    last = STAGE_CHANNELS[-1]
    fixed += 2 * last + last * classes + classes  # final BN, classifier
    per_cell = 0
    for op in cell:
        kernel = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}.get(op)
        if kernel:
            per_cell += sum(kernel * kernel * c * c + 2 * c for c in STAGE_CHANNELS)
    return fixed + CELLS_PER_STAGE * per_cell


def benchmark_path(spec):
    """The CSV of ``--benchmark``: "nb201" is the copy in reproduce/data, "nb201:PATH" PATH."""
    name, colon, path = spec.partition(":")
    if name != BENCHMARK or (colon and not path):
        raise ValueError(f"--benchmark: must be {BENCHMARK} or {BENCHMARK}:PATH, got {spec!r}")
    return path or DEFAULT_CSV


class Benchmark(NamedTuple):
    """What a search over this space needs of its data: a table (a CSV of `read_csv`'s form)
    and the column its accuracies are read from; the input and classes of that column's data
    set, for the memory of the network (CIFAR-10 unless the column names cifar100 or
    ImageNet16-120, the benchmark's other two)."""
    path: str
    column: str = ACCURACY_COLUMN

    @property
    def name(self):
        return f"{BENCHMARK}:{self.path} ({self.column})"

    @property
    def input_shape(self):
        return (16, 16, 3) if self.column.lower().startswith("imagenet16") else INPUT_SHAPE

    @property
    def num_classes(self):
        column = self.column.lower()
        return 120 if column.startswith("imagenet16") else 100 if \
            column.startswith("cifar100") else 10


def read_csv(path, column=ACCURACY_COLUMN):
    """(cells, accuracies) of a CSV with an ``arch`` column of benchmark strings and `column`,
    one row per cell: a list of Cell and a float64 array. ValueError, naming the file and the
    line or column, for a missing file or column, a malformed cell, a value that is not a
    finite number or a cell listed twice."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as f:  # a BOM is not part of "arch"
        reader = csv.DictReader(f)
        names = reader.fieldnames or []
        for needed in ("arch", column):
            if needed not in names:
                raise ValueError(f"{path}: no column {needed!r} (columns: {', '.join(names)})")
        found, values, seen = [], [], {}
        for line, row in enumerate(reader, 2):
            try:
                cell = parse(row["arch"])
            except ValueError as e:
                raise ValueError(f"{path}, line {line}: {e}") from None
            if cell in seen:
                raise ValueError(f"{path}, line {line}: cell {row['arch']} is also on line "
                                 f"{seen[cell]}")
            seen[cell] = line
            try:
                value = float(row[column])
            except (TypeError, ValueError):
                value = float("nan")
            if not np.isfinite(value):
                raise ValueError(f"{path}, line {line}: {column} {row[column]!r} is not a "
                                 "finite number")
            found.append(cell)
            values.append(value)
    if not found:
        raise ValueError(f"{path}: no rows")
    return found, np.array(values)


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


def connected(cell):
    """Whether the network's output depends on its input (no cut of ``none`` edges)."""
    return cell_graph(cell, (1, 1, 1)) is not None


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


def int8_param_bytes(nodes):
    """Parameter bytes of the network's tensors (`network_parts` with `primitives`, joined)
    deployed as int8, as the .tflite file stores them: tflm.int8_param_bytes for the convs and
    the classifier (int8 weights, one int32 bias per output channel, the shortcut's zero one
    too), and 1 byte per constant of the last BatchNorm's MUL and ADD (int8, no bias). The
    pooling's two int32 axes (8 bytes) are not parameters."""
    kept = [n for n in nodes if n.name not in HEAD_BN]
    return tflm.int8_param_bytes(kept) + sum(n.params for n in nodes if n.name in HEAD_BN)


# ---------------------------------------------------------------------------------------------
# Grow and trim (Eq. 1 and 2)
# ---------------------------------------------------------------------------------------------

LAYER_OPS = ("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # the ops that are a layer
# Round 0: one path of edges from node 0 to node 3 (the nodes it passes through), each edge any
# op but none; a path through no layer (all skip_connect) is the identity cell.
PATHS = ((0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3))


def grow(cell):
    """Eq. 1 on a cell: one ``none`` edge becomes a layer (one of LAYER_OPS), in edge then op
    order. Adding an edge never cuts the network."""
    return [cell._replace(**{field: op}) for field, now in zip(Cell._fields, cell)
            if now == "none" for op in LAYER_OPS]


def trim(cell):
    """Eq. 2 on a cell: one layer becomes ``skip_connect`` (an identity: Eq. 2's l) or ``none``
    (the edge removed: Eq. 2's e), in edge order; those that cut the network are left out (a
    constant network, see `network_parts`)."""
    found = []
    for field, now in zip(Cell._fields, cell):
        if now in LAYER_OPS:
            found += [trimmed for trimmed in (cell._replace(**{field: op})
                                              for op in ("skip_connect", "none"))
                      if connected(trimmed)]
    return found


def round0():
    """Round 0, which has no base: the smallest cells that connect input to output, those whose
    edges are one path from node 0 to node 3 (PATHS), every op but none on each edge: 4 + 16 +
    16 + 64 = 100 cells, as our round 0 is every op pair on the smallest cell."""
    found = []
    for path in PATHS:
        fields = [f"edge_{j}_{i}" for i, j in zip(path, path[1:])]
        for ops in np.ndindex(*(len(OPS) - 1,) * len(fields)):
            found.append(Cell(*(["none"] * len(EDGES)))._replace(
                **{field: OPS[1 + k] for field, k in zip(fields, ops)}))
    return found


def generate(base=None):
    """A round's candidates (grow_trim.Generation): grow + trim of `base`, each distinct, the
    base left out; if None, round 0."""
    if base is None:
        first = tuple(round0())
        return grow_trim.Generation(first, (), len(first), 0)
    layers = sum(op in LAYER_OPS for op in base)
    return grow_trim.Generation(tuple(grow(base)), tuple(trim(base)),
                                len(LAYER_OPS) * sum(op == "none" for op in base), 2 * layers)
