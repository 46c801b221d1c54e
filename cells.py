"""The MemNAS search space: cells, blocks and networks (paper Section 3.1, Figure 1b).

A network is a stem, five series-connected blocks and a classifier head. A block is an ordered
list of cells; a cell has two operation layers in parallel and one combine layer, and the paper
writes it as a tuple of five binary vectors ``(I1, I2, L1, L2, O)``:

* ``I1``, ``I2``: one-hot over the block's input locations, bit j counted from the right.
  Location 0 is the block input (r1 in Figure 1b), location j >= 1 is the output of cell j of the
  same block. Cell j may read only locations < j. All zeros: the layer was removed by trimming.
* ``L1``, ``L2``: one-hot over the seven operation types of ``OP_NAMES``, bit k from the right.
  All zeros: identity.
* ``O``: three bits ``(output, concat, not-output)`` read left to right, as Figure 1b prints
  them: ``001`` sum and not in the block output, ``110`` concat and in the block output, ``100``
  sum and in the block output, ``011`` concat and not in the block output. The block output is
  the concatenation of the cells whose ``output`` bit is set.

An ``Arch`` has two encodings, each converting both ways without loss: the paper's vectors
(vectors.py, with the fixed-width tokens the controller reads) and a readable JSON file
(arch_json.py, which also gives a network its identity, ``key``). ``OPS`` is the one table of
operation layers, as data, read by both the Keras builder (network.py, which imports Keras
when called) and ``op_params``: this module is plain Python and never loads TensorFlow.
"""

import dataclasses
import functools
import hashlib
import math
import re
import typing



class Conv(typing.NamedTuple):
    """A convolution without bias, BatchNorm after it, then ReLU if `relu`."""
    kernel: tuple            # (height, width)
    strided: tuple = (0, 1)  # the axes (0 = height, 1 = width) that take the layer's stride
    dilation: int = 1
    relu: bool = True


class Depthwise(typing.NamedTuple):
    """A k x k depthwise convolution, strided on both axes, BatchNorm after it."""
    kernel: int


class Pool(typing.NamedTuple):
    """A 3x3 pooling, "avg" or "max", strided on both axes."""
    kind: str


IDENTITY = "identity"  # all-zero L vector; a removed layer is stored with this op too

# Each operation layer as the primitive layers it runs, in order; the stride is that of the
# block for a layer reading the block input, else 1. An op's bit in the L vector is its position
# here. `identity` comes last: no layer at all unless the shape must change, then a projection.
OPS = {
    "conv3x3": (Conv((3, 3)),),
    "dwconv3x3": (Depthwise(3), Conv((1, 1), strided=())),
    "dwconv5x5": (Depthwise(5), Conv((1, 1), strided=())),
    # The stride is split over the factorized pair, each subsampling the axis it convolves.
    "conv1x7_7x1": (Conv((1, 1), strided=()), Conv((1, 7), strided=(1,)),
                    Conv((7, 1), strided=(0,))),
    "avgpool3x3": (Conv((1, 1), strided=(), relu=False), Pool("avg")),
    "maxpool3x3": (Conv((1, 1), strided=(), relu=False), Pool("max")),
    "dilconv3x3": (Conv((3, 3), dilation=2),),
    IDENTITY: (Conv((1, 1), relu=False),),
}
OP_NAMES = tuple(op for op in OPS if op != IDENTITY)  # index = bit of the L vector, from the right
COMBINES = ("sum", "concat")


@functools.lru_cache(maxsize=1 << 10)  # a few ops and channel counts, for every candidate
def op_params(op, cin, filters):
    """Parameters of operation layer `op` at inference, from `cin` channels to `filters`, with
    BatchNorm folded into the conv before it (one bias per output channel): a k_h x k_w conv + BN
    counts k_h * k_w * c_in * f + f, a k x k depthwise conv + BN k * k * c_in + c_in, a pool 0."""
    total, channels = 0, cin
    for spec in OPS[op]:
        if type(spec) is Conv:
            total += math.prod(spec.kernel) * channels * filters + filters
            channels = filters
        elif type(spec) is Depthwise:
            total += spec.kernel * spec.kernel * channels + channels
    return total


# The CIFAR-10 template of Figure 1b: per-block stride and width (a multiple of --filters).
BLOCK_STRIDES = (1, 2, 1, 2, 1)
BLOCK_WIDTHS = (1, 1, 2, 2, 4)
NUM_BLOCKS = len(BLOCK_STRIDES)

# The most cells a block may have: fixes the width of the paper's vectors (vectors.py).
MAX_CELLS = 15


class Cell(typing.NamedTuple):
    """One cell: two operation layers reading `inputs`, combined by `combine`.

    `inputs[i]` is None when layer i was removed; `ops[i]` is then IDENTITY. A NamedTuple, so
    that the millions of hashes and comparisons of candidate generation stay cheap.
    """
    inputs: tuple
    ops: tuple
    combine: str = "sum"
    output: bool = True

    @property
    def layers(self):
        """The present layers as (input location, op name) pairs."""
        return [(i, op) for i, op in zip(self.inputs, self.ops) if i is not None]


@dataclasses.dataclass(frozen=True)
class Arch:
    """A network: one tuple of cells per block."""
    blocks: tuple


def place(b, j=None):
    """'block 2, cell 3' in the 1-based numbering of the messages (cell j is location j)."""
    return f"block {b + 1}" + ("" if j is None else f", cell {j}")


# ---------------------------------------------------------------------------------------------
# Validation and pruning
# ---------------------------------------------------------------------------------------------

def validate(arch, num_blocks=NUM_BLOCKS):
    """Return `arch` if it is well formed, else raise ValueError naming block, cell and rule.

    Dead cells and layers are allowed here: `prune` removes them.
    """
    if not isinstance(arch, Arch):
        raise ValueError(f"expected an Arch, got {type(arch).__name__}")
    if len(arch.blocks) != num_blocks:
        raise ValueError(f"block count: the network has {len(arch.blocks)} blocks, "
                         f"the template has {num_blocks}")
    for b, block in enumerate(arch.blocks):
        if _VALID_BLOCKS.get(id(block)) is block:
            continue
        try:
            _validate_block(block)
        except _BlockError as e:
            raise ValueError(f"{place(b, e.cell)}: {e.rule}") from None
        if len(_VALID_BLOCKS) >= 1 << 16:
            _VALID_BLOCKS.clear()
        _VALID_BLOCKS[id(block)] = block
    return arch


# Blocks already validated, by identity: a candidate shares its untouched blocks with its base
# and canonical blocks come from a cache, so the same tuples come back again and again. Keyed
# by id and holding the block (so the id cannot be reused), never by value: 0.0 == 0 and
# True == 1 would let a float location or an int flag pass as a cached valid block.
_VALID_BLOCKS = {}


class _BlockError(Exception):
    """A rule broken inside a block; `validate` adds the block number to the message."""

    def __init__(self, cell, rule):
        super().__init__(rule)
        self.cell, self.rule = cell, rule


def _validate_block(block):
    if not isinstance(block, tuple) or not block:
        raise _BlockError(None, "cell count: the block has no cell")
    if len(block) > MAX_CELLS:
        raise _BlockError(None, f"cell count: {len(block)} cells, at most {MAX_CELLS} (MAX_CELLS)")
    for j, cell in enumerate(block, start=1):
        _validate_cell(cell, j)
    if not any(cell.output for cell in block):
        raise _BlockError(None, "no output: no cell has its output bit set")


_KNOWN_OPS = frozenset(OP_NAMES + (IDENTITY,))


def _validate_cell(cell, j):
    if type(cell) is not Cell:
        raise _BlockError(j, f"expected a Cell, got {type(cell).__name__}")
    inputs, ops, combine, output = cell
    if len(inputs) != 2 or len(ops) != 2:
        raise _BlockError(j, "layer count: a cell has exactly 2 inputs and 2 ops")
    for i, (loc, op) in enumerate(zip(inputs, ops), start=1):
        # type() is, not isinstance: True is an int to isinstance, and not a location.
        if loc is not None and (type(loc) is not int or loc < 0):
            raise _BlockError(j, f"input location: layer {i} reads {loc!r}, not a location "
                                 "index (0 = block input, j = cell j)")
        if loc is not None and loc >= j:
            raise _BlockError(j, f"input location: layer {i} reads location {loc}, but "
                                 f"cell {j} may only read locations 0..{j - 1} (reading "
                                 "itself or a later cell would make a cycle)")
        if type(op) is not str or op not in _KNOWN_OPS:
            raise _BlockError(j, f"unknown op: layer {i} has op {op!r}; "
                                 f"known: {', '.join(OP_NAMES + (IDENTITY,))}")
    if combine not in COMBINES:
        raise _BlockError(j, f"combine: {combine!r} is not one of {COMBINES}")
    if type(output) is not bool:
        raise _BlockError(j, f"output flag: {output!r} is not true or false")


def prune(arch, num_blocks=None):
    """Validate `arch`, then remove dead layers and cells, block by block, to a fixed point.

    A layer whose input is gone is removed; a cell with no layer left is removed; a cell whose
    output feeds neither another cell nor the block output is removed. Raises ValueError if a
    block is left without output. `num_blocks`: the template's block count, if it matters.
    """
    validate(arch, len(arch.blocks) if num_blocks is None else num_blocks)
    blocks = []
    for b, block in enumerate(arch.blocks):
        pruned = _prune_block(block)
        if not pruned:
            raise ValueError(f"{place(b)}: no output: every output cell is dead after pruning")
        blocks.append(pruned)
    return Arch(tuple(blocks))


@functools.lru_cache(maxsize=1 << 12)
def _prune_block(block):
    n = len(block)
    # Forward: a layer lives if its input lives; a cell lives if any layer does. One pass
    # suffices because cells only read earlier locations.
    alive = [True] + [False] * n
    inputs = []
    for j, cell in enumerate(block, start=1):
        ins = tuple(i if i is not None and alive[i] else None for i in cell.inputs)
        inputs.append(ins)
        alive[j] = any(i is not None for i in ins)
    # Backward: a live cell is needed if it is an output or a needed cell reads it.
    needed = [False] * (n + 1)
    for j in range(n, 0, -1):
        if alive[j] and (block[j - 1].output or needed[j]):
            needed[j] = True
            for i in inputs[j - 1]:
                if i is not None:
                    needed[i] = True
    if not any(needed[j] and block[j - 1].output for j in range(1, n + 1)):
        return ()
    new_loc = {0: 0}
    cells = []
    for j, cell in enumerate(block, start=1):
        if not needed[j]:
            continue
        new_loc[j] = len(cells) + 1
        ins = tuple(None if i is None else new_loc[i] for i in inputs[j - 1])
        ops = tuple(IDENTITY if i is None else op for i, op in zip(ins, cell.ops))
        cells.append(_with_layers(cell, ins, ops))
    return _rebuilt(block, cells)


def _with_layers(cell, inputs, ops):
    """`cell` itself when its layers are unchanged: fewer objects, and the identity-keyed
    validation cache keeps recognizing it."""
    if inputs == cell.inputs and ops == cell.ops:
        return cell
    return Cell(inputs, ops, cell.combine, cell.output)


def _rebuilt(block, cells):
    """`block` itself when `cells` are its own cells in order, else a new block."""
    if len(cells) == len(block) and all(a is b for a, b in zip(cells, block)):
        return block
    return tuple(cells)


def canonical(arch):
    """The canonical form: pruned, cells in a fixed topological order, layers sorted.

    Two encodings of the same network (cells listed in another valid order, the two layers of a
    cell swapped, dead cells) have equal canonical forms. Layer and cell order change only the
    channel order of a concatenation, which training cannot tell apart.
    """
    return Arch(tuple(_canonical_block(block) for block in prune(arch).blocks))


@functools.lru_cache(maxsize=1 << 12)
def _canonical_block(block):
    # A structural signature and a depth per location. Sorting cells by (depth, signature) is a
    # topological order, since a cell is deeper than its inputs, and a canonical one: cells
    # that tie on both are isomorphic sub-graphs, so their order does not change the result.
    sig, depth = ["in"], [0]
    for cell in block:
        layers = cell.layers
        text = f"{cell.combine}:{int(cell.output)}:" + ",".join(
            sorted(f"{op}@{sig[i]}" for i, op in layers))
        sig.append(hashlib.blake2b(text.encode(), digest_size=8).hexdigest())
        depth.append(1 + max(depth[i] for i, _ in layers))
    order = sorted(range(1, len(block) + 1), key=lambda j: (depth[j], sig[j]))
    placed = {0: 0}
    placed.update((j, n) for n, j in enumerate(order, start=1))
    cells = []
    for j in order:
        cell = block[j - 1]
        layers = sorted((placed[i], OP_NAMES.index(op) if op in OP_NAMES else -1, op)
                        for i, op in cell.layers)
        layers += [(None, None, IDENTITY)] * (2 - len(layers))
        cells.append(_with_layers(cell, tuple(l[0] for l in layers), tuple(l[2] for l in layers)))
    return _rebuilt(block, cells)


# ---------------------------------------------------------------------------------------------
# Named architectures
# ---------------------------------------------------------------------------------------------

# Figure 1b: the same block of three cells in all five (vectors.FIGURE_1B_VECTORS is the figure's
# printing of it, r1 the block input, r4 and r7 the outputs of C1 and C2).
_FIGURE_1B_BLOCK = (
    Cell((0, 0), ("dwconv3x3", "conv1x7_7x1"), "sum", False),     # C1: r1, r1
    Cell((1, 0), ("avgpool3x3", "dwconv5x5"), "concat", True),     # C2: r4, r1; an output
    Cell((1, 2), ("maxpool3x3", "maxpool3x3"), "sum", True),       # C3: r4, r7; an output
)
FIGURE_1B = validate(Arch((_FIGURE_1B_BLOCK,) * NUM_BLOCKS))


def one_cell(op1, op2):
    """A round-0 network: one cell reading the block input twice, summed, in every block."""
    cell = Cell((0, 0), (op1, op2), "sum", True)
    return Arch((((cell,),) * NUM_BLOCKS))


# Round 0 has no base network: every (L1, L2) pair, O = 100, as in the authors' code. These are
# 49 encodings of 28 distinct networks, since summing is symmetric in its two layers.
ROUND0 = tuple(one_cell(op1, op2) for op1 in OP_NAMES for op2 in OP_NAMES)


# ---------------------------------------------------------------------------------------------
# Names the Keras network (network.py) gives its layers, and which layers it makes
# ---------------------------------------------------------------------------------------------

def op_layer_name(prefix, cell, layer, op):
    """Name of operation layer `layer` (1 or 2) of cell `cell` of block `prefix` ("b1"): the
    Keras layer build_model makes, the node lifetime.py makes for it, the layer inherit.py
    matches. OP_LAYER_NAME reads one back."""
    return f"{prefix}_c{cell}_l{layer}_{op}"


OP_LAYER_NAME = re.compile(r"b\d+_c\d+_l\d+_\w+")  # fullmatch: an op_layer_name


def makes_no_layer(op, stride, in_channels, filters):
    """Whether an operation layer is a bare identity, passing its input through with no layer
    (and no node, no weights): an identity that changes neither resolution (`stride`, the
    block's for a layer reading the block input, else 1) nor width; any other identity is a
    1x1 projection."""
    return op == IDENTITY and stride == 1 and in_channels == filters


def output_marker(prefix, cell=None):
    """Name of the weightless Identity layer on the output of cell `cell` of block `prefix`
    ("b1"), or of the block when `cell` is None. keras_graph.model_graph finds them by OUTPUT_MARKER
    to keep cell outputs live until the block output (Figure 3, rule 3): Keras has no cells."""
    return f"{prefix}_output" if cell is None else f"{prefix}_c{cell}_output"


OUTPUT_MARKER = re.compile(r"(b\d+)(_c\d+)?_output")  # fullmatch groups: block prefix, cell or None
