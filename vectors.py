"""The paper's encoding of an Arch (Section 3.1, Figure 1b): per cell five one-hot vectors
(I1, I2, L1, L2, O), as bit strings both ways (``to_vectors`` / ``from_vectors``), and the same
five flattened into one fixed-width token per cell, which the controller (scc.py) reads.

cells.py's docstring says what each vector means. Plain Python and numpy.
"""

import numpy as np

import cells

MAX_LOCATIONS = cells.MAX_CELLS + 1  # the block input and one location per cell
TOKEN_WIDTH = 2 * MAX_LOCATIONS + 2 * len(cells.OP_NAMES) + 3  # I1, I2, L1, L2, O

# Figure 1b's block (cells.FIGURE_1B) exactly as the figure prints its three cells' tuples.
FIGURE_1B_VECTORS = (
    ("0001", "0001", "0000010", "0001000", "001"),  # C1: dwconv3x3(r1) + conv1x7_7x1(r1), sum
    ("0010", "0001", "0010000", "0000100", "110"),  # C2: avgpool(r4) ++ dwconv5x5(r1), output
    ("0010", "0100", "0100000", "0100000", "100"),  # C3: maxpool(r4) + maxpool(r7), output
)



def _bits(value, width):
    """One-hot string with bit `value` counted from the right; all zeros for None."""
    return "0" * width if value is None else "0" * (width - 1 - value) + "1" + "0" * value


def _one_hot(bits, width, what, where, max_width=None):
    """Index of the set bit counted from the right, None for all zeros."""
    if isinstance(bits, str):
        bits = bits.strip()
        if set(bits) - {"0", "1"}:
            raise ValueError(f"{where}: one-hot: {what} {bits!r} has characters other than 0/1")
        bits = [int(c) for c in bits]
    bits = list(bits)
    if max_width is None and len(bits) != width:
        raise ValueError(f"{where}: one-hot: {what} has {len(bits)} bits, expected {width}")
    if max_width is not None and not 1 <= len(bits) <= max_width:
        raise ValueError(f"{where}: one-hot: {what} has {len(bits)} bits, "
                         f"at most {max_width} (MAX_LOCATIONS)")
    if any(v not in (0, 1) for v in bits):
        raise ValueError(f"{where}: one-hot: {what} {bits} has values other than 0/1")
    ones = [len(bits) - 1 - k for k, v in enumerate(bits) if v]
    if len(ones) > 1:
        raise ValueError(f"{where}: one-hot: {what} {''.join(map(str, bits))} "
                         "has more than one bit set")
    return ones[0] if ones else None


_O_BITS = {"001": ("sum", False), "110": ("concat", True),
           "100": ("sum", True), "011": ("concat", False)}


def to_vectors(arch, input_bits=MAX_LOCATIONS):
    """The paper's tuples: per block, per cell, five bit strings (I1, I2, L1, L2, O)."""
    def op_bits(i, op):
        known = i is not None and op != cells.IDENTITY
        return _bits(cells.OP_NAMES.index(op) if known else None, len(cells.OP_NAMES))

    def o_bits(cell):
        concat = cell.combine == "concat"
        return f"{int(cell.output)}{int(concat)}{int(not cell.output)}"

    return [[(_bits(c.inputs[0], input_bits), _bits(c.inputs[1], input_bits),
              op_bits(c.inputs[0], c.ops[0]), op_bits(c.inputs[1], c.ops[1]), o_bits(c))
             for c in block] for block in arch.blocks]


def from_vectors(blocks, num_blocks=cells.NUM_BLOCKS):
    """The Arch of the paper's tuples: bit strings ('0001') or 0/1 sequences, I up to 16
    bits."""
    out = []
    for b, block in enumerate(blocks):
        block_cells = []
        for j, vectors in enumerate(block, start=1):
            where = cells.place(b, j)
            if len(vectors) != 5:
                raise ValueError(f"{where}: one-hot: a cell is 5 vectors (I1, I2, L1, L2, O), "
                                 f"got {len(vectors)}")
            i1, i2, l1, l2, o = vectors
            inputs = tuple(_one_hot(v, None, name, where, MAX_LOCATIONS)
                           for v, name in ((i1, "I1"), (i2, "I2")))
            ops = tuple(cells.IDENTITY if k is None else cells.OP_NAMES[k]
                        for k in (_one_hot(v, len(cells.OP_NAMES), name, where)
                                  for v, name in ((l1, "L1"), (l2, "L2"))))
            o = "".join(map(str, o)) if not isinstance(o, str) else o.strip()
            if o not in _O_BITS:
                raise ValueError(f"{where}: one-hot: O {o!r} is not one of "
                                 f"{', '.join(_O_BITS)} (output, concat, not-output)")
            combine, output = _O_BITS[o]
            ops = tuple(cells.IDENTITY if i is None else op for i, op in zip(inputs, ops))
            block_cells.append(cells.Cell(inputs, ops, combine, output))
        out.append(tuple(block_cells))
    return cells.validate(cells.Arch(tuple(out)), num_blocks)


def cell_token(cell):
    """One fixed-length 0/1 vector per cell (TOKEN_WIDTH): I1, I2, L1, L2, O, index = bit."""
    token = np.zeros(TOKEN_WIDTH, np.float32)
    offset = 0
    for i in cell.inputs:
        if i is not None:
            token[offset + i] = 1
        offset += MAX_LOCATIONS
    for i, op in zip(cell.inputs, cell.ops):
        if i is not None and op != cells.IDENTITY:
            token[offset + cells.OP_NAMES.index(op)] = 1
        offset += len(cells.OP_NAMES)
    token[offset:] = (cell.output, cell.combine == "concat", not cell.output)
    return token


def arch_tokens(arch):
    """(blocks, MAX_CELLS, TOKEN_WIDTH) tokens; an all-zero token pads (a cell's O is never
    0)."""
    tokens = np.zeros((len(arch.blocks), cells.MAX_CELLS, TOKEN_WIDTH), np.float32)
    for b, block in enumerate(arch.blocks):
        for j, cell in enumerate(block):
            tokens[b, j] = cell_token(cell)
    return tokens
