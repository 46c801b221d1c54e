"""Benchmark: the memory lifetime.py predicts for NAS-Bench-201 networks against what TensorFlow
Lite Micro allocates for them.

Each cell's network (nb201_network.build_model, untrained, its BatchNorms and classifier bias
given random values as a trained network has them) is converted to a full-int8 .tflite
(export.py) and loaded in TFLite-Micro; its arena head (the feature maps as TFLM's planner lays
them out) is compared with r of each schedule at 1 byte per value (``lifetime.parts_memory`` of
``nb201_graph.network_parts``: op-level nodes for paper, with ``primitives`` for the deployed
schedules), and the file's constant bytes with ``nb201_graph.int8_param_bytes``. Targets, as for our
space (bench/tflite_memory.py): ``tflm`` exact, ``strict`` within [0.9, 1.1] of the head.

Cells: hand-picked extremes (every edge nor_conv_3x3, one nor_conv_1x1 path, avg_pool only,
sums of skips, the identity cell, a pool before convs), then --cells connected cells drawn
(seeded) from the other 15,619. Memory does not depend on the weights, so the int8 calibration
uses seeded random images. Each cell's TFLM numbers are one line of --out_dir/measured.jsonl
(export.Measured): a rerun or a killed run converts nothing twice.

    python bench/nb201_tflite.py --cells=5
"""
import itertools
import random

from absl import app
from absl import flags

import export
import graph
import guard
import lifetime
import nb201
import nb201_graph
import nb201_network
from reproduce import report

flags.DEFINE_integer("cells", 5, "Connected cells drawn at random, besides the hand-picked.")
flags.DEFINE_integer("seed", 0, "Seed of the drawn cells, of the BatchNorm values and of the "
                     "calibration images.")
flags.DEFINE_string("out_dir", "runs/bench/nb201_tflite", "Where the .tflite files and "
                    "measured.jsonl go.")

PICKED = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "nor_conv_3x3~2|",  # the largest network
    "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",  # one conv path
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|"
    "avg_pool_3x3~2|",  # pools only: identical pools merged
    "|skip_connect~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|skip_connect~2|",  # x + x
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|"
    "skip_connect~2|",  # sums of skips, merged
    "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",  # the identity cell
    "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_3x3~2|",  # ReLU into a pool
)
INPUT_SHAPE = nb201.INPUT_SHAPE
SCHEDULES = lifetime.SCHEDULES


def sample_cells(n, seed):
    """[Cell]: PICKED, then n connected cells drawn (seeded) from the others; a larger n keeps
    the smaller one's draw."""
    picked = [nb201.parse(text) for text in PICKED]
    others = [cell for cell in (nb201.Cell(*ops) for ops in itertools.product(nb201.OPS,
                                                                               repeat=6))
              if cell not in picked and nb201.connected(cell)]
    random.Random(seed).shuffle(others)
    return picked + others[:n]


def predicted(cell):
    """{SCHEDULE: r at 1 byte per value} and the int8 parameter bytes of `cell`'s network."""
    parts = {False: nb201_graph.network_parts(cell),
             True: nb201_graph.network_parts(cell, primitives=True)}
    r = {s: lifetime.parts_memory(parts[s in lifetime.DEPLOYED], 1, s).activation_bytes
         for s in SCHEDULES}
    return r, nb201_graph.int8_param_bytes(graph.join(parts[True]))


def _build(cell, seed):
    model = nb201_network.build_model(cell, 10, INPUT_SHAPE)
    nb201_network.randomize_constants(model, seed)
    return model


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("nb201_tflite.py"):
        if FLAGS.cells < 0:
            raise ValueError(f"--cells must be at least 0, got {FLAGS.cells}")
        measured = export.Measured(FLAGS.out_dir, INPUT_SHAPE, FLAGS.seed)
    rows, ratios = [], {s: [] for s in SCHEDULES + ("p",)}
    for cell in sample_cells(FLAGS.cells, FLAGS.seed):
        name = nb201.to_string(cell)
        result = measured.network(name, lambda cell=cell: _build(cell, FLAGS.seed))
        if "error" in result:
            rows.append([name, "—"] + ["—"] * 2 * len(SCHEDULES) + ["—"] * 3 +
                        [result["error"][:60]])
            continue
        r, p = predicted(cell)
        head, const = result["tflm_arena_head_bytes"], result["param_bytes"]
        row = [name, head]
        for s in SCHEDULES:
            ratios[s].append(r[s] / head)
            row += [r[s], r[s] / head]
        ratios["p"].append(p / const)
        rows.append(row + [const, p, p / const, ""])
    print(report.table(["cell", "TFLM head B"] + [h for s in SCHEDULES for h in (
        f"{s} r B", f"{s}/head")] + ["tflite const B", "int8 p B", "p/const", "note"], rows,
        digits=3))
    for s in SCHEDULES:
        found = ratios[s]
        print(f"{s:8s} r / TFLM head: exact in {sum(x == 1 for x in found)} of {len(found)} "
              f"cells, within [0.9, 1.1] in {sum(0.9 <= x <= 1.1 for x in found)}, "
              f"range {min(found, default=0):.3f} .. {max(found, default=0):.3f}")
    found = ratios["p"]
    print(f"int8 p / .tflite constants: range {min(found, default=0):.4f} .. "
          f"{max(found, default=0):.4f}")


if __name__ == "__main__":
    app.run(main)
