"""Grow-and-trim candidate generation (paper Section 3.2, Eq. 1 and 2, Figure 1c).

Each search round starts from a base network and generates its candidates two ways:

* **Grow**: one new cell, the same one appended to all five blocks. Every ``I1, I2`` over the
  input locations, every ``L1, L2`` over the seven op types and both binary choices of ``O``
  (sum or concat; in the block output or not) give ``|S_g| = |I|^2 |L|^2 |C|^2`` raw
  candidates (Eq. 1). Blocks can differ after trimming, so ``|I|`` is that of the largest
  block, and a new cell that would read a location some block lacks is skipped.
* **Trim**: in exactly one block, one of ``l_i`` (replace a non-identity layer by identity),
  ``c_i`` (remove a cell, rewiring its consumers, the block output included, to the cell's
  first input: its lowest location, as canonical form sorts layers) or ``e_i`` (drop a cell
  from the block's final concatenation), then prune.
  ``|S_t| = sum_i (l_i + c_i + e_i)`` raw candidates (Eq. 2); a trim that would leave a block
  without output is skipped.

Both return the distinct valid candidates in canonical form, the base itself excluded, and the
raw counts of Eq. 1 and Eq. 2. Round 0 has no base: its candidates are the distinct networks
among the 49 encodings of ``cells.ROUND0``. Plain Python: this module never loads TensorFlow.
"""

import dataclasses
import json
import os

from absl import app
from absl import flags

import arch_json
import cells
import guard


def define_flags():
    """Flags of this file's command line; defined only when it runs as a script, so that
    other scripts can import it as a library without a clash of flag names."""
    flags.DEFINE_string("arch", None, "Base architecture (JSON file); none: round 0.")
    flags.DEFINE_bool("json", False, "Print the counts as one JSON object.")
    flags.DEFINE_string("out", None, "Write every candidate as a JSON architecture file here.")


@dataclasses.dataclass(frozen=True)
class Generation:
    """One round's candidates: distinct and valid, with the raw counts of Eq. 1 and Eq. 2."""
    grow: tuple
    trim: tuple
    grow_raw: int
    trim_raw: int

    @property
    def candidates(self):
        return self.grow + self.trim

    def counts(self):
        return {"grow_raw": self.grow_raw, "trim_raw": self.trim_raw,
                "grow": len(self.grow), "trim": len(self.trim)}


class _Distinct:
    """Collects canonical candidates, dropping invalid ones, duplicates and the base."""

    def __init__(self, base):
        self.seen = {base}
        self.archs = []

    def add(self, blocks):
        """Add the network of `blocks` (an iterable of blocks) if valid and new."""
        try:
            arch = cells.canonical(cells.Arch(tuple(blocks)))
        except ValueError:  # e.g. a trim that empties a block's output
            return
        if arch not in self.seen:
            self.seen.add(arch)
            self.archs.append(arch)


def grow(base):
    """(distinct grown candidates, raw count of Eq. 1):

        |S_g| = |I|^2 * |L|^2 * |C|^2

    |I| input locations for each of the new cell's two layers, |L| op types for each layer and
    |C| = 2 connection methods for each of the two binary choices of O (sum or concat; in the
    block output or not). Blocks can differ after trimming: |I| is that of the largest block.
    """
    base = cells.canonical(base)
    sizes = [len(block) for block in base.blocks]
    I = max(sizes) + 1  # |I|: the block input and every existing cell
    L = len(cells.OP_NAMES)  # |L|
    C = len(cells.COMBINES)  # |C|: sum or concat; C^2 pairs it with in or out of the output
    raw = I ** 2 * L ** 2 * C ** 2  # Eq. 1
    usable = min(sizes) + 1 if max(sizes) < cells.MAX_CELLS else 0
    found = _Distinct(base)
    layers = [(i, op) for i in range(usable) for op in cells.OP_NAMES]
    for a, (i1, op1) in enumerate(layers):
        # Only one order of the two layers: the swapped cell is the same network and has the
        # same canonical form. Only output cells: nothing reads the new cell, so one outside
        # the block output is dead and prunes back to the base. Neither skip changes the set.
        for i2, op2 in layers[a:]:
            for combine in cells.COMBINES:
                cell = cells.Cell((i1, i2), (op1, op2), combine, True)
                found.add(block + (cell,) for block in base.blocks)
    return tuple(found.archs), raw


def _remove_cell(block, j):
    """Block without cell j; whatever read it, the block output included, reads its first input.

    The block input cannot be in the block output, so there the output role is dropped.
    """
    first = block[j - 1].layers[0][0]
    cells_out = []
    for k, cell in enumerate(block, start=1):
        if k == j:
            continue
        inputs = tuple(first if i == j else i - 1 if i is not None and i > j else i
                       for i in cell.inputs)
        output = cell.output or (k == first and block[j - 1].output)
        cells_out.append(cell._replace(inputs=inputs, output=output))
    return tuple(cells_out)


def _trims(block):
    """The raw trims of one block, by kind: (l_i layer trims, c_i cell removals, e_i output
    drops), each a list of trimmed blocks."""
    layer_trims, output_drops = [], []
    for j, cell in enumerate(block):
        for i, (loc, op) in enumerate(zip(cell.inputs, cell.ops)):
            if loc is not None and op != cells.IDENTITY:
                ops = tuple(cells.IDENTITY if k == i else o for k, o in enumerate(cell.ops))
                layer_trims.append(block[:j] + (cell._replace(ops=ops),) + block[j + 1:])
        if cell.output:
            output_drops.append(block[:j] + (cell._replace(output=False),) + block[j + 1:])
    cell_removals = [_remove_cell(block, j) for j in range(1, len(block) + 1)]
    return layer_trims, cell_removals, output_drops


def trim(base):
    """(distinct trimmed candidates, raw count of Eq. 2); one block changed per candidate:

        |S_t| = sum_i (l_i + c_i + e_i)

    over the blocks i, with l_i the non-identity layers of block i (each can become identity),
    c_i its cells (each can be removed) and e_i its output cells (each can leave the output).
    """
    base = cells.canonical(base)
    found = _Distinct(base)
    raw = 0
    for i, block in enumerate(base.blocks):
        l_i, c_i, e_i = _trims(block)
        raw += len(l_i) + len(c_i) + len(e_i)  # Eq. 2, term i
        for trimmed in l_i + c_i + e_i:
            found.add(base.blocks[:i] + (trimmed,) + base.blocks[i + 1:])
    return tuple(found.archs), raw


def generate(base=None):
    """A round's candidates: grow + trim of `base`; if None, round 0: the distinct networks of
    the 49 encodings of cells.ROUND0 (28: summing is symmetric in its two layers) as grown."""
    if base is None:
        found = _Distinct(None)
        for arch in cells.ROUND0:
            found.add(arch.blocks)
        return Generation(tuple(found.archs), (), len(cells.ROUND0), 0)
    grown, grow_raw = grow(base)
    trimmed, trim_raw = trim(base)
    return Generation(grown, trimmed, grow_raw, trim_raw)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("grow_trim.py"):
        base = arch_json.load(FLAGS.arch) if FLAGS.arch else None
    generation = generate(base)
    if FLAGS.out:
        os.makedirs(FLAGS.out, exist_ok=True)
        for kind in ("grow", "trim"):
            for n, arch in enumerate(getattr(generation, kind), start=1):
                arch_json.save(arch, os.path.join(FLAGS.out, f"{kind}_{n:05d}.json"))
    counts = generation.counts()
    if FLAGS.json:
        print(json.dumps(counts))
        return
    print(f"base: {FLAGS.arch or 'none (round 0)'}")
    print(f"grow: {counts['grow_raw']} raw (Eq. 1), {counts['grow']} distinct valid")
    print(f"trim: {counts['trim_raw']} raw (Eq. 2), {counts['trim']} distinct valid")
    if FLAGS.out:
        print(f"wrote {len(generation.candidates)} architecture files to {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
