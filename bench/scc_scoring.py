"""Benchmark: scoring a round's candidates with the controllers of Table 3 (scc.py).

A search round ranks every grow/trim candidate before it trains the top k (Section 3.3), so the
controller must score thousands of candidates at once. Target: 10,000 candidates in under 2 s on
2 CPU cores (5,000 candidates/s). The candidates are those of successive rounds (round 0, then a
seeded random grown candidate becomes the next base, as in bench/candidates.py), the last
10,000 kept, so they are as long as late-round candidates are; the weights are untrained, which
costs the same as trained ones. `Controller.predict` is timed after one warm-up call (tracing),
end to end: tokens, list padding, the model; a `gc.collect()` before every timed call keeps the
garbage of candidate generation out of the numbers.

    python bench/scc_scoring.py                       # the three kinds at the default settings
    python bench/scc_scoring.py --batch_sizes=2,4,8,16,32 --jit_compile=true,auto

What it took: (1) `encode` tokenizes each distinct cell once and looks shared blocks up by identity
(one `cell_token` call per cell, written straight into the array, took most of the budget); (2)
lists are cut in input order and each batch is padded only to its own longest candidate; (3) 16
lists (1,600 candidates) per model call. The rest is arithmetic: one GRU(100) step over 10,000
sequences is ~1.2 GFLOP (input and recurrent matrices), and each batch runs ~40 steps, so ~50 GFLOP
per 10,000 candidates.
"""
import gc
import os
import random
import statistics
import time

from absl import app
from absl import flags

import grow_trim
import scc
import scc_model

flags.DEFINE_integer("candidates", 10_000, "Candidates to score.")
flags.DEFINE_list("kinds", list(scc_model.KINDS), "Controllers to time.")
flags.DEFINE_integer("list_size", 100, "Candidates per list (the SCC ranks a list at once).")
flags.DEFINE_list("batch_sizes", ["16"], "Lists per model batch; several values: a sweep.")
flags.DEFINE_list("jit_compile", ["auto"], "jit_compile of the model: auto, true or false.")
flags.DEFINE_integer("repeats", 3, "Timed calls per setting (the best is reported).")
flags.DEFINE_integer("seed", 0, "Seed of the bases picked each round.")
TARGET = 10_000 / 2.0  # candidates per second: 10,000 in 2 s


def round_candidates(count, seed):
    """`count` candidates: those of successive rounds from round 0, the last `count` kept."""
    rng = random.Random(seed)
    base, archs = None, []
    while len(archs) < count:
        generation = grow_trim.generate(base)
        archs += generation.candidates
        base = rng.choice(generation.grow)
    return archs[-count:]


def time_predict(controller, archs, batch_size, repeats):
    """Seconds of each of `repeats` predict calls, after one untimed warm-up call."""
    controller.predict(archs, batch_size=batch_size)
    seconds = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        controller.predict(archs, batch_size=batch_size)
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    archs = round_candidates(FLAGS.candidates, FLAGS.seed)
    lengths = [sum(len(block) + 1 for block in arch.blocks) for arch in archs]
    print(f"{len(archs)} candidates, {min(lengths)}-{max(lengths)} tokens "
          f"(mean {statistics.mean(lengths):.1f}); {os.cpu_count()} CPU cores; "
          f"list_size {FLAGS.list_size}")
    encode_seconds = []
    for _ in range(FLAGS.repeats):
        gc.collect()
        start = time.perf_counter()
        scc.encode(archs)
        encode_seconds.append(time.perf_counter() - start)
    print(f"encode alone, all at once: {min(encode_seconds):.3f} s (best of {FLAGS.repeats})")
    print(f"{'kind':>6} {'jit':>5} {'lists/batch':>11} {'best s':>7} {'median s':>8} "
          f"{'cand/s':>7} {'x target':>8}")
    for jit in FLAGS.jit_compile:
        jit_compile = {"true": True, "false": False}.get(jit.lower(), jit)
        for kind in FLAGS.kinds:
            controller = scc.Controller(kind, list_size=FLAGS.list_size, seed=FLAGS.seed,
                                        jit_compile=jit_compile)
            for batch_size in map(int, FLAGS.batch_sizes):
                seconds = time_predict(controller, archs, batch_size, FLAGS.repeats)
                best = min(seconds)
                rate = len(archs) / best
                print(f"{kind:>6} {jit:>5} {batch_size:>11} {best:>7.2f} "
                      f"{statistics.median(seconds):>8.2f} {rate:>7.0f} {rate / TARGET:>8.2f}")


if __name__ == "__main__":
    app.run(main)
