"""The memory of every NAS-Bench-201 network as data: one CSV row per cell, beyond the paper.

    python reproduce/nb201_memory.py [--benchmark=nb201[:PATH]] [--out=CSV]

Each row: the cell (the benchmark's string), whether its output depends on its input
(``nb201.connected``), its parameters as deployed, p and r in bytes at int8 and float32, r under
each of lifetime.py's schedules. How each number is counted:

* ``params``: folded as deployed, as the converter writes them: BatchNorm folded into the conv
  before it (one bias per channel), the shortcut convs' zero bias the converter adds, the last
  BatchNorm folded into the last cell's conv where that is its output, else a scale and a shift
  (``nb201_graph.network_parts`` with ``primitives``).
* ``p_int8_bytes``: ``nb201_graph.int8_param_bytes`` (int8 weights, int32 biases, the last
  BatchNorm's int8 constants); ``p_float32_bytes``: 4 bytes per parameter.
* ``r_{int8,float32}_{SCHEDULE}_bytes``: ``lifetime.parts_memory`` at 1 and 4 bytes per value;
  ``paper`` on the op-level nodes of Figure 3's rule 1, ``strict``, ``optimal`` and ``tflm`` on
  the tensors TensorFlow Lite holds, in the order it runs them (lifetime.DEPLOYED).

A cell whose output does not depend on its input makes the network a constant: no parameters
are needed to compute it, and r is the image's buffer.
"""

import csv
import os
import time

from absl import app
from absl import flags

import graph
import guard
import lifetime
import nb201
import nb201_graph

BYTES = (("int8", 1), ("float32", 4))
SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "nb201_memory.csv")
COLUMNS = ["arch", "connected", "params", "p_int8_bytes", "p_float32_bytes"] + [
    f"r_{kind}_{schedule}_bytes" for kind, _ in BYTES for schedule in lifetime.SCHEDULES]


def define_flags():
    flags.DEFINE_string("benchmark", nb201.BENCHMARK, "The cells: those of the benchmark's "
                        "table shipped in reproduce/data (nb201), or of a CSV with an arch "
                        "column and the accuracy column (nb201:PATH).")
    flags.DEFINE_string("out", "runs/reproduce/nb201_memory.csv", "The CSV written.")


def row(cell, classes=10, input_shape=nb201.INPUT_SHAPE):
    """The CSV row of `cell` (an nb201.Cell), {column: value} in COLUMNS."""
    deployed = nb201_graph.network_parts(cell, classes, input_shape, primitives=True)
    parts = {False: nb201_graph.network_parts(cell, classes, input_shape), True: deployed}
    params = nb201_graph.deployed_params(deployed)
    out = {"arch": nb201.to_string(cell), "connected": int(nb201.connected(cell)),
           "params": params, "p_int8_bytes": nb201_graph.int8_param_bytes(graph.join(deployed)),
           "p_float32_bytes": 4 * params}
    for kind, size in BYTES:
        for schedule in lifetime.SCHEDULES:
            out[f"r_{kind}_{schedule}_bytes"] = lifetime.parts_memory(
                parts[schedule in lifetime.DEPLOYED], size, schedule).activation_bytes
    return out


def write(cells, path):
    """Write one `row` per cell to `path` (replaced atomically); seconds taken."""
    start = time.perf_counter()
    rows = [row(cell) for cell in cells]

    def to(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    guard.replace_atomically(path, to)
    return time.perf_counter() - start


def read(cells, schedule, bytes_per_value, path=SHIPPED):
    """{cell: (p, r)} in bytes, as `row` counts them for 10 classes at nb201.INPUT_SHAPE, of
    those `cells` that the CSV at `path` (default: the one shipped) holds: p its parameters at
    `bytes_per_value` (1 or 4) and r under `schedule`. Reading it takes a second where
    measuring the benchmark's 15,625 networks takes a minute."""
    kind = dict((size, kind) for kind, size in BYTES)[bytes_per_value]
    wanted = {nb201.to_string(cell): cell for cell in cells}
    found = {}
    with open(path, newline="") as f:
        for line in csv.DictReader(f):
            cell = wanted.get(line["arch"])
            if cell is not None:
                found[cell] = (int(line["params"]) * bytes_per_value,
                               int(line[f"r_{kind}_{schedule}_bytes"]))
    return found


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("nb201_memory.py"):
        cells, _ = nb201.read_csv(nb201.benchmark_path(FLAGS.benchmark))
        os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
        seconds = write(cells, FLAGS.out)
    print(f"{FLAGS.out}: {len(cells):,} cells in {seconds:.0f} s, "
          f"{os.path.getsize(FLAGS.out) / 2**20:.2f} MiB")


if __name__ == "__main__":
    define_flags()
    app.run(main)
