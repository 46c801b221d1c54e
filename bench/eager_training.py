"""Benchmark: training a candidate with traced steps (the default) against eager steps.

A scaled-down search trains each candidate for a few batches; Keras then spends most of a
candidate's time tracing its training and evaluation functions, once per model. This trains the
same candidates both ways, interleaved, for each training-set size, and prints the seconds per
candidate and the ratio traced / eager, plus whether both ways measured the same validation
accuracy (they should: same seed, same arithmetic). Table 3's default search (256 training
images: 2 batches per candidate) is what `run_eagerly` was added for.

    python bench/eager_training.py                  # 256 and 2,000 images, 6 candidates each
"""
import random
import statistics
import time

from absl import app
from absl import flags

import grow_trim
import inputs
import pipelines
import recipes
import train

flags.DEFINE_string("dataset", "cifar10", inputs.DATASET_HELP)
flags.DEFINE_list("train_examples", ["256", "2000"], "Training-set sizes to compare.")
flags.DEFINE_integer("candidates", 6, "Round-1 candidates trained each way per size.")
flags.DEFINE_integer("epochs", 1, "Epochs per candidate.")
flags.DEFINE_integer("filters", 8, "Filters of the first block (w).")
flags.DEFINE_integer("seed", 0, "Seed of the candidates picked.")


def pick_candidates(n, seed):
    """n round-1 candidates grown from a seeded round-0 network, as a search trains them."""
    rng = random.Random(seed)
    base = rng.choice(grow_trim.generate(None).candidates)
    return rng.sample(grow_trim.generate(base).candidates, n)


def compare(archs, data, epochs, filters):
    """Seconds per candidate traced and eager, and whether every accuracy agreed."""
    seconds = {False: [], True: []}
    same = True
    for arch in archs:
        accuracy = {}
        for eager in (False, True):  # interleaved, so drift in machine speed hits both
            config = recipes.TrainConfig(epochs=epochs, filters=filters, verbose=0,
                                         run_eagerly=eager)
            start = time.perf_counter()
            result = train.train(arch, data, config)
            seconds[eager].append(time.perf_counter() - start)
            accuracy[eager] = result.val_accuracy
        same = same and accuracy[False] == accuracy[True]
    return statistics.median(seconds[False]), statistics.median(seconds[True]), same


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    archs = pick_candidates(FLAGS.candidates, FLAGS.seed)
    print(f"{FLAGS.candidates} round-1 candidates, {FLAGS.epochs} epoch(s), filters "
          f"{FLAGS.filters}, batch 128; median seconds per candidate")
    print("train images  batches  traced s  eager s  traced/eager  same val acc")
    for size in map(int, FLAGS.train_examples):
        data = inputs.load_data(FLAGS.dataset, None, 0.1, size, 0)
        traced, eager, same = compare(archs, data, FLAGS.epochs, FLAGS.filters)
        batches = pipelines.steps_per_epoch(data.num_train, 128) * FLAGS.epochs
        print(f"{size:12d}  {batches:7d}  {traced:8.2f}  {eager:7.2f}  {traced / eager:12.2f}"
              f"  {'yes' if same else 'NO'}")


if __name__ == "__main__":
    app.run(main)
