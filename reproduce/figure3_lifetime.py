"""Figure 3 of the paper (Section 3.4.1): the lifetime plot of the Figure 1b block.

Every intermediate representation r1..r11 of the block is a row, generated at a filled circle and
deleted at a hollow one; the memory row beneath sums the live sizes at each time. With every
node of size 1 the paper's figure reads ``1, 3, 2, 4, 3, 4, 3, 1``, peak 4, and so must ours
(``lifetime.analyze``, paper schedule, on ``graph.block_graph`` of ``cells.FIGURE_1B``'s first
block). Nothing here is scaled down: the figure is exact.

With ``--filters`` the script also shows the real sizes of that block as the first block of a
network of width w on 32x32 CIFAR-10 images (input: the stem's w channels), in bytes with
``--bytes`` per value: the memory row in KiB and the peak.

    python reproduce/figure3_lifetime.py
    python reproduce/figure3_lifetime.py --filters=64 --bytes=4
    python reproduce/figure3_lifetime.py --smoke    # the same, real sizes at width 4
"""

import dataclasses
import graph
import os

from absl import app
from absl import flags

import cells
import guard
import lifetime
from reproduce import paper
from reproduce import report

# The figure's names of our nodes, in our order: the input, C1's layers and sum, C2's average
# pool (r6) and dwconv5x5 (r5) and concat, C3's layers and sum, the block output.
FIGURE_NAMES = ("r1", "r2", "r3", "r4", "r6", "r5", "r7", "r8", "r9", "r10", "r11")
INPUT_SIZE = 32  # CIFAR-10; block 1 has stride 1, so every node is 32x32


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    flags.DEFINE_string("out_dir", "runs/reproduce/figure3_lifetime",
                        "Where figure3_lifetime.png/.json (and the real-size plot) go.")
    flags.DEFINE_integer("filters", None, "Also show the block's real sizes at this width w.")
    flags.DEFINE_integer("bytes", 4, "Bytes per value for the real sizes (4 = float32).")
    flags.DEFINE_bool("smoke", False, "The figure is instant anyway; --smoke also shows the "
                      "real sizes at width 4 unless --filters is given.")


def figure_block(filters=1):
    """Figure 1b's block as the first block (stride 1) of a network of width `filters`."""
    nodes, _ = graph.block_graph(cells.FIGURE_1B.blocks[0], (INPUT_SIZE, INPUT_SIZE, filters),
                                    filters, 1)
    return nodes


def labelled(life, nodes):
    """The lifetime with rows named as in the figure, our layer name beside."""
    return dataclasses.replace(life, names=tuple(f"{r:<3} {node.name}"
                                                 for r, node in zip(FIGURE_NAMES, nodes)))


def row_text(row):
    return ", ".join(str(m) for m in row)


def run(out_dir, filters=None, bytes_per_value=4, log=print):
    """Figure 3 with unit sizes (and real sizes at width `filters`, if given): prints the paper's
    row beside ours, writes the plots and figure3_lifetime.json; returns the JSON's dict."""
    if filters is not None and filters < 1:
        raise ValueError(f"--filters must be at least 1, got {filters}")
    if bytes_per_value < 1:
        raise ValueError(f"--bytes must be at least 1, got {bytes_per_value}")
    os.makedirs(out_dir, exist_ok=True)
    nodes = figure_block()
    unit = labelled(lifetime.analyze(nodes, "paper", sizes=[1] * len(nodes)), nodes)
    paper_row, paper_peak = paper.FIGURE3_ROW, paper.FIGURE3_PEAK
    times = [f"t={t}" for t in range(1, len(unit.memory) + 1)]
    log("Figure 3: lifetime of the Figure 1b block, every node of size 1, paper schedule")
    log(report.table(["", *times, "peak"], [["paper (Figure 3)", *paper_row, paper_peak],
                                            ["ours", *unit.memory, unit.peak]]))
    log(f"memory row: {row_text(unit.memory)}, peak {unit.peak} "
        f"(paper: {row_text(paper_row)}, peak {paper_peak})")
    log(report.table(["node", "generated", "deleted"],
                     [[name, b, d] for name, b, d in zip(unit.names, unit.born, unit.dead)]))
    png = os.path.join(out_dir, "figure3_lifetime.png")
    lifetime.plot(unit, png, f"Figure 3: Figure 1b block, unit sizes, peak {unit.peak}")
    result = {"paper": {"memory": list(paper_row), "peak": paper_peak},
              "ours": {"names": list(unit.names), "born": list(unit.born),
                       "dead": list(unit.dead), "memory": list(unit.memory), "peak": unit.peak},
              "matches_paper": tuple(unit.memory) == tuple(paper_row) and
              unit.peak == paper_peak, "png": png, "real_sizes": None}
    if filters is not None:
        result["real_sizes"] = real_sizes(out_dir, nodes[0].name, filters, bytes_per_value, log)
    report.write_results(out_dir, "figure3_lifetime", result, log)
    return result


def real_sizes(out_dir, input_name, filters, bytes_per_value, log):
    """The block at width `filters`: bytes per node and the memory row in KiB, with its plot."""
    nodes = figure_block(filters)
    life = labelled(lifetime.analyze(nodes, "paper"), nodes)
    kib = tuple(m * bytes_per_value / 1024 for m in life.memory)
    log(f"\nThe same block at width {filters} on {INPUT_SIZE}x{INPUT_SIZE} maps "
        f"({input_name}: the stem's {filters} channels), {bytes_per_value} bytes per value")
    log(report.table(["node", "shape", "KiB"],
                     [[name, "x".join(map(str, node.shape)), node.size * bytes_per_value / 1024]
                      for name, node in zip(life.names, nodes)], digits=1))
    log(f"memory row (KiB): {row_text(f'{m:g}' for m in kib)}, peak {max(kib):g} KiB "
        f"= {max(kib) / 1024:.3f} MiB")
    png = os.path.join(out_dir, f"figure3_lifetime_w{filters}.png")
    # The plot prints the memory row as numbers: give it KiB, not bytes.
    lifetime.plot(dataclasses.replace(life, memory=tuple(round(m) for m in kib)), png,
                  f"Figure 1b block at width {filters}: memory in KiB, peak {max(kib):g}")
    return {"filters": filters, "bytes_per_value": bytes_per_value,
            "shapes": [list(node.shape) for node in nodes],
            "node_bytes": [node.size * bytes_per_value for node in nodes],
            "memory_kib": list(kib), "peak_kib": max(kib), "png": png}


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    filters = 4 if FLAGS.smoke and FLAGS.filters is None else FLAGS.filters
    with guard.one_line_errors("figure3_lifetime.py"):
        run(FLAGS.out_dir, filters, FLAGS.bytes)


if __name__ == "__main__":
    define_flags()
    app.run(main)
