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
* ``connected``: whether the network's output depends on its input (nb201_graph.py gives the
  network as lifetime.py's nodes, nb201_network.py as a Keras model).
* ``generate``: a round's candidates, grow and trim as Eq. 1 and 2 make them in our space.

Plain Python and NumPy: no TensorFlow.
"""

import csv
import os
from typing import NamedTuple

import numpy as np

import grow_trim

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


def connected(cell):
    """Whether the network's output depends on its input: a path of edges that are not
    ``none`` from node 0 to node 3 (else every path is cut, and the network is a constant)."""
    reached = {0}
    for (node, source), op in zip(EDGES, cell):  # EDGES by node: every source comes first
        if op != "none" and source in reached:
            reached.add(node)
    return NODES in reached


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
    constant network, see `connected`)."""
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
