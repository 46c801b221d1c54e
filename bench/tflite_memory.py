"""Benchmark: lifetime.py's memory against what TensorFlow Lite Micro really allocates.

Every network is built untrained at --filters, converted to a full-int8 .tflite (export.py) and
loaded in TFLite-Micro; its arena head (the feature maps as TFLM's planner lays them out) is
compared with r of each schedule at 1 byte per value, and the file's constant bytes with p as
deployed (int8 weights, int32 biases). Networks: Figure 1b, a seeded sample of --candidates
grow/trim candidates of Figure 1b and of two round-0 bases, and the Table 1 baselines
(--baselines). Memory does not depend on the weights, so the int8
calibration uses seeded random images and no data set is needed. Each network's TFLM numbers
are kept in --out_dir/measured.jsonl (export.Measured), so a rerun (or a killed run)
converts nothing twice.

    python bench/tflite_memory.py --candidates=20
"""
import os
import random

from absl import app
from absl import flags

import cells
import export
import graph
import grow_trim
import guard
import keras_graph
import lifetime
import litert
import network
import tflite_order
from reproduce import baselines
from reproduce import report

flags.DEFINE_integer("candidates", 20, "Grow/trim candidates measured (besides Figure 1b).")
flags.DEFINE_integer("filters", 16, "Filters of the first block (w) of the search networks.")
flags.DEFINE_bool("baselines", True, "Also measure the Table 1 baselines (full width).")
flags.DEFINE_integer("seed", 0, "Seed of the sample and of the calibration images.")
flags.DEFINE_string("out_dir", "runs/bench/tflite_memory", "Where the .tflite files and "
                    "measured.jsonl go.")

INPUT_SHAPE = (32, 32, 3)


def search_networks(n, seed):
    """[(name, Arch)]: Figure 1b, then n grow/trim candidates sampled (seeded) from those of
    Figure 1b and of two round-0 networks; a larger n keeps the smaller one's sample."""
    rng = random.Random(seed)
    round0 = grow_trim.generate(None).candidates
    bases = [("Figure 1b", cells.FIGURE_1B)] + [
        (f"round 0 #{i}", round0[i]) for i in rng.sample(range(len(round0)), 2)]
    pool = []
    for name, base in bases:
        generation = grow_trim.generate(base)
        pool += [(f"{name}, candidate {i}", arch)
                 for i, arch in enumerate(generation.candidates)]
    rng.shuffle(pool)
    return [bases[0]] + pool[:n]


def baseline_models():
    """[(name, builder)] of the Table 1 baselines."""
    return [("ResNet-56", lambda: baselines.resnet_cifar(56, 10, INPUT_SHAPE)),
            ("ResNet-110", lambda: baselines.resnet_cifar(110, 10, INPUT_SHAPE)),
            ("MobileNet-V2", lambda: baselines.mobilenet_v2_cifar(10, INPUT_SHAPE)),
            ("ShuffleNet V1", lambda: baselines.shufflenet_v1("1.0x", 10, INPUT_SHAPE, True))]


def ratio(a, b):
    return None if not b else a / b


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("tflite_memory.py"):
        if FLAGS.candidates < 1:
            raise ValueError(f"--candidates must be at least 1, got {FLAGS.candidates}")
        measured = export.Measured(FLAGS.out_dir, INPUT_SHAPE, FLAGS.seed)
    jobs, archs = [], {}
    for name, arch in search_networks(FLAGS.candidates, FLAGS.seed):
        archs[f"{name} (w={FLAGS.filters})"] = arch
        jobs.append((f"{name} (w={FLAGS.filters})", lambda arch=arch: network.build_model(
            arch, FLAGS.filters, 10, INPUT_SHAPE), lambda arch=arch: export.predicted(
                lambda s: lifetime.arch_memory(arch, FLAGS.filters, 1, s),
                graph.arch_graph(arch, FLAGS.filters, primitives=True))))
    if FLAGS.baselines:
        for name, build in baseline_models():
            jobs.append((name, build, lambda build=build: (lambda model: export.predicted(
                lambda s: lifetime.model_memory(model, 1, s),
                keras_graph.model_graph(model, primitives=True)))(build())))
    rows = []
    for name, build, predict in jobs:
        row = measured.network(name, build)
        if "error" in row:
            rows.append([name] + ["—"] * 9 + [row["error"][:60]])
            continue
        row.update(predict())
        head, const = row["tflm_arena_head_bytes"], row["param_bytes"]
        rows.append([name, head] + [ratio(row[f"{s}_activation_bytes"], head) for s in (
            "paper", "strict", "optimal")] + [
            row["planned_arena_bytes"], ratio(row["planned_arena_bytes"], head), const,
            row["analytic_param_bytes"], ratio(row["analytic_param_bytes"], const), ""])
    print(report.table(["network", "TFLM head B", "paper/head", "strict/head", "optimal/head",
                        "tflm r B", "tflm/head", "tflite const B", "int8 p B", "p/const",
                        "note"], rows, digits=3))
    for column, what in ((3, "strict r"), (6, "lifetime.py --schedule=tflm")):
        ratios = [r[column] for r in rows if isinstance(r[column], float)]
        inside = sum(0.9 <= x <= 1.1 for x in ratios)
        exact = sum(x == 1 for x in ratios)
        print(f"{what} within [0.9, 1.1] of the TFLM head: {inside} of {len(ratios)} networks "
              f"({exact} exactly)")
    ratios = [r[9] for r in rows if isinstance(r[9], float)]
    print(f"int8 p within 2% of the .tflite constants: "
          f"{sum(abs(x - 1) <= 0.02 for x in ratios)} of {len(ratios)} networks")
    print(report.table(
        ["network", "strict r B", "optimal r B", "converter order: TFLM head B",
         "optimal order + offline plan: predicted B", "measured head B", "head ratio"],
        reordered(archs, measured.done, FLAGS.filters, FLAGS.out_dir), digits=3))


def reordered(archs, done, filters, out_dir):
    """A row per search network whose operators export.py --schedule=optimal would run in
    another order or lay out in a smaller arena than TFLM's own planner: the TFLM head of the
    converter's file beside that of the same file reordered and planned offline (no new
    conversion: tflite_order.reorder on the int8 file kept)."""
    rows = []
    for name, arch in archs.items():
        row = done.get(name)
        if row is None or "error" in row:
            continue
        names, predicted = export.optimal_plan(arch, filters)
        if predicted >= row["tflm_arena_head_bytes"]:
            continue
        folder = os.path.join(out_dir, "".join(c if c.isalnum() else "_" for c in name))
        with open(os.path.join(folder, "model_int8.tflite"), "rb") as f:
            head = litert.tflm_arena(tflite_order.reorder(f.read(), names))["head"]
        rows.append([name, lifetime.arch_memory(arch, filters, 1, "strict").activation_bytes,
                     lifetime.arch_memory(arch, filters, 1, "optimal").activation_bytes,
                     row["tflm_arena_head_bytes"], predicted, head,
                     head / row["tflm_arena_head_bytes"]])
    return rows


if __name__ == "__main__":
    app.run(main)
