"""An architecture as a readable JSON file, one line per cell so that a file reads like
Figure 1b, and a network's identity across rounds and runs (`key`, its canonical form as
compact JSON). The other encoding, the paper's vectors, is vectors.py's.

    {"blocks": [
      {"cells": [
        {"inputs": [0, 0], "ops": ["dwconv3x3", "conv1x7_7x1"], "combine": "sum", "output": false},
        ...]},
      ...]}

(examples/figure1b.json). A removed layer reads `null` in "inputs" and "identity" in "ops".
"""

import json

import cells
import guard

CELL_KEYS = ("inputs", "ops", "combine", "output")  # a cell's keys, exactly these


def to_json(arch):
    """The readable form: {"blocks": [{"cells": [{"inputs", "ops", "combine", "output"}]}]}."""
    return {"blocks": [{"cells": [{"inputs": list(c.inputs), "ops": list(c.ops),
                                   "combine": c.combine, "output": c.output}
                                  for c in block]} for block in arch.blocks]}


def from_json(data, num_blocks=cells.NUM_BLOCKS):
    """Arch from the readable form; ValueError naming block, cell and rule if malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise ValueError('format: expected an object with a "blocks" list')
    blocks = []
    for b, block in enumerate(data["blocks"]):
        if not isinstance(block, dict) or not isinstance(block.get("cells"), list):
            raise ValueError(f'{cells.place(b)}: format: expected an object with a "cells" list')
        parsed = []
        for j, cell in enumerate(block["cells"], start=1):
            where = cells.place(b, j)
            if not isinstance(cell, dict):
                raise ValueError(f"{where}: format: a cell is an object with keys "
                                 f"{', '.join(CELL_KEYS)}")
            missing = [k for k in CELL_KEYS if k not in cell]
            unknown = sorted(set(cell) - set(CELL_KEYS))
            if missing or unknown:
                raise ValueError(f"{where}: format: missing keys {missing}, unknown keys "
                                 f"{unknown}; a cell has exactly {', '.join(CELL_KEYS)}")
            for key in ("inputs", "ops"):
                if not isinstance(cell[key], list) or len(cell[key]) != 2:
                    raise ValueError(f'{where}: layer count: "{key}" must be a list of 2')
            inputs = tuple(cell["inputs"])
            ops = tuple(cells.IDENTITY if i is None else op for i, op in zip(inputs, cell["ops"]))
            parsed.append(cells.Cell(inputs, ops, cell["combine"], cell["output"]))
        blocks.append(tuple(parsed))
    return cells.validate(cells.Arch(tuple(blocks)), num_blocks)


def dumps(arch):
    """JSON text with one line per cell, so a file reads like Figure 1b."""
    lines = []
    for block in to_json(arch)["blocks"]:
        rows = ",\n    ".join(json.dumps(c) for c in block["cells"])
        lines.append('  {"cells": [\n    ' + rows + "]}")
    return '{"blocks": [\n' + ",\n".join(lines) + "\n]}\n"


def save(arch, path):
    """Write `arch` as a JSON architecture file (atomically: a crash leaves no half file)."""
    cells.validate(arch, len(arch.blocks))
    text = dumps(arch)

    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    guard.replace_atomically(path, write)


def load(path, num_blocks=cells.NUM_BLOCKS):
    """Read a JSON architecture file, as encoded there; errors name the file, then block, cell
    and rule. A block that prunes to nothing is refused here, where the file name is known."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x}); "
                         "an architecture file is JSON") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON: {e}") from None
    except OSError as e:  # missing, a directory, no permission
        what = ("no such architecture file" if isinstance(e, FileNotFoundError)
                else f"cannot read ({e.strerror or e})")
        raise ValueError(f"{path}: {what}") from None
    try:
        arch = from_json(data, num_blocks)
        cells.prune(arch)
        return arch
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def key(arch):
    """A network's identity across rounds and runs: its canonical form as compact JSON."""
    return json.dumps(to_json(cells.canonical(arch)), separators=(",", ":"))


