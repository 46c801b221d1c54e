"""Benchmark: candidate generation plus p and r for every candidate of successive rounds.

Grows a network round by round (round 0, then a seeded random grown candidate becomes the next
base, as a search would pick one) and times grow + trim + canonical form + lifetime memory for
every candidate on one core. Target: at least 2,000 candidates/s, so that a paper-size round of
thousands of candidates takes about a second. For comparison it also times the only other way
to get p, building the Keras model and counting its folded parameters, on a few candidates.

    python bench/candidates.py
"""
import keras_graph
import random
import time

from absl import app
from absl import flags

import grow_trim
import lifetime
import network

flags.DEFINE_integer("rounds", 5, "Rounds after round 0.")
flags.DEFINE_integer("filters", 64, "Filters of the first block (w).")
flags.DEFINE_integer("seed", 0, "Seed of the base picked each round.")
flags.DEFINE_integer("keras_sample", 3, "Candidates also measured through Keras (0: skip).")
TARGET = 2000.0  # candidates per second


def run_rounds(rounds, filters, seed):
    """[(round, base cells per block, counts, candidates, seconds)] and the last round's
    candidates."""
    rng = random.Random(seed)
    base, rows, candidates = None, [], []
    for round_number in range(rounds + 1):
        start = time.perf_counter()
        generation = grow_trim.generate(base)
        candidates = generation.candidates
        for arch in candidates:
            lifetime.arch_memory(arch, filters)
        seconds = time.perf_counter() - start
        sizes = "-" if base is None else ",".join(str(len(b)) for b in base.blocks)
        rows.append((round_number, sizes, generation.counts(), len(candidates), seconds))
        base = rng.choice(generation.grow)
    return rows, candidates


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    rows, candidates = run_rounds(FLAGS.rounds, FLAGS.filters, FLAGS.seed)
    print(f"{'round':>5} {'base cells':>10} {'grow raw':>8} {'trim raw':>8} "
          f"{'candidates':>10} {'seconds':>8} {'cand/s':>8}")
    for round_number, sizes, counts, n, seconds in rows:
        print(f"{round_number:>5} {sizes:>10} {counts['grow_raw']:>8} {counts['trim_raw']:>8} "
              f"{n:>10} {seconds:>8.3f} {n / seconds:>8.0f}")
    total = sum(n for *_, n, _ in rows)
    seconds = sum(s for *_, s in rows)
    print(f"all rounds: {total} candidates in {seconds:.2f} s = {total / seconds:.0f} "
          f"candidates/s, {total / seconds / TARGET:.2f}x the {TARGET:.0f}/s target")
    if FLAGS.keras_sample:
        import keras
        sample = candidates[:FLAGS.keras_sample]
        start = time.perf_counter()
        for arch in sample:
            keras_graph.folded_params(network.build_model(arch, FLAGS.filters))
            keras.backend.clear_session()
        keras_each = (time.perf_counter() - start) / len(sample)
        print(f"p through Keras (build + count): {keras_each * 1e3:.0f} ms per candidate; "
              f"lifetime.arch_memory is {keras_each * total / seconds:.0f}x faster")


if __name__ == "__main__":
    app.run(main)
