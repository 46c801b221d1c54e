"""Benchmark: candidates per hour when a round trains in parallel (parallel.py).

CPU: the same round-1 candidates trained three ways, side by side: in the search's own process
with TensorFlow on every core (--workers=1, today's default path), and as Ray tasks, one
worker with every core, and one worker per core with one thread each (--workers=2 on a 2-core
machine). Each way's validation accuracies are compared with the first's (they should agree:
each candidate has its own seed). Ray's start is timed apart: a search pays it once.

GPU (only where TensorFlow sees one): images/s of one candidate with and without
--mixed_precision and --jit_compile, and candidates per hour with 1, 2 and 4 candidates per GPU
(--gpus_per_candidate 1, 0.5, 0.25). Without a GPU it says so and measures nothing.

    python bench/parallel_training.py --dataset=npz:../shared/data/cifar10_subset.npz
"""
import dataclasses
import os
import random
import time

from absl import app
from absl import flags
import tensorflow as tf

import evaluation
import grow_trim
import guard
import inputs
import parallel
import recipes
import records
import rounds
import search_config
import train
from reproduce import report

flags.DEFINE_string("dataset", "cifar10", inputs.DATASET_HELP)
flags.DEFINE_integer("train_examples", 2000, "Training images per candidate.")
flags.DEFINE_integer("candidates", 6, "Round-1 candidates trained each way.")
flags.DEFINE_integer("epochs", 1, "Epochs per candidate.")
flags.DEFINE_integer("filters", 16, "Filters of the first block (w).")
flags.DEFINE_integer("seed", 0, "Seed of the candidates picked and of their training.")
flags.DEFINE_string("out_dir", "runs/bench/parallel_training", "Where models and logs go.")


def pick_candidates(n, seed):
    """n round-1 candidates grown from a seeded round-0 network, as a search trains them."""
    rng = random.Random(seed)
    base = rng.choice(grow_trim.generate(None).candidates)
    return base, rng.sample(grow_trim.generate(base).candidates, n)


def timed_round(evaluator, job):
    """(seconds, {key: validation accuracy}) of one job."""
    begin = time.perf_counter()
    outcomes = list(evaluator(job))
    return time.perf_counter() - begin, {o.key: o.val_accuracy for o in outcomes}


def cpu_rows(data, job, config, log):
    """One row per way of training the job on this machine's CPUs."""
    cores = os.cpu_count()
    seconds, first = timed_round(evaluation.TrainEvaluator(data, config), job)
    rows = [("in process (--workers=1)", 1, cores, 0.0, seconds, first)]
    for workers in (1, cores):
        settings = parallel.Parallel(workers=workers, cpus_per_candidate=cores // workers)
        begin = time.perf_counter()
        with parallel.RayEvaluator(data, config, False, settings, log=log) as evaluator:
            start = time.perf_counter() - begin
            seconds, found = timed_round(evaluator, dataclasses.replace(
                job, out_dir=os.path.join(job.out_dir, f"ray_{workers}")))
        rows.append((f"Ray tasks (--workers={workers})", workers, cores // workers, start,
                     seconds, found))
    return rows, first


def print_cpu(rows, first):
    base = rows[0][4]
    header = ["way", "workers", "threads each", "Ray start s", "round s", "candidates/h",
              "speed-up", "max |val acc diff|"]
    table = [[name, workers, threads, start, seconds, 3600 * len(found) / seconds,
              base / seconds, max(abs(found[k] - first[k]) for k in first)]
             for name, workers, threads, start, seconds, found in rows]
    print(report.table(header, table, digits=2))


def gpu_rows(data, job, config, log):
    """Images/s of the first candidate per fast-path setting, then candidates/hour per GPU
    share; [] without a GPU."""
    arch = job.candidates[0].arch
    speed = []
    for mixed, jit in (("float32", False), ("mixed_bfloat16", False), ("float32", True),
                       ("mixed_bfloat16", True), ("mixed_float16", True)):
        result = train.train(arch, data, dataclasses.replace(
            config, mixed_precision=mixed, jit_compile=jit))
        speed.append((mixed, jit, data.num_train * config.epochs / result.seconds,
                       result.val_accuracy))
    shares = []
    for per_gpu in (1, 2, 4):
        settings = parallel.Parallel(workers=per_gpu, gpus_per_candidate=1 / per_gpu)
        with parallel.RayEvaluator(data, config, False, settings, log=log) as evaluator:
            seconds, found = timed_round(evaluator, dataclasses.replace(
                job, out_dir=os.path.join(job.out_dir, f"gpu_{per_gpu}")))
        shares.append((per_gpu, seconds, 3600 * len(found) / seconds))
    return speed, shares


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("parallel_training.py"):
        records.OutDir(FLAGS.out_dir)
        data = inputs.load_data(FLAGS.dataset, None, 0.1, FLAGS.train_examples, FLAGS.seed)
        base, archs = pick_candidates(FLAGS.candidates, FLAGS.seed)
        measured = rounds.measure(archs, FLAGS.filters, search_config.SearchConfig(), data)
        job = evaluation.Job(1, tuple(measured), base, FLAGS.out_dir, FLAGS.seed)
        config = recipes.TrainConfig(epochs=FLAGS.epochs, filters=FLAGS.filters, verbose=0)
        print(f"{FLAGS.candidates} round-1 candidates, {data.num_train} training images, "
              f"{FLAGS.epochs} epoch(s), width {FLAGS.filters}, {os.cpu_count()} CPU cores")
        rows, first = cpu_rows(data, job, config, print)
        print_cpu(rows, first)
        if not tf.config.list_physical_devices("GPU"):
            print("no GPU visible to TensorFlow: the GPU rows were not measured")
            return
        speed, shares = gpu_rows(data, job, config, print)
        plain = speed[0][2]
        print(report.table(["mixed precision", "jit", "images/s", "vs float32", "val acc"],
                           [[m, j, s, s / plain, a] for m, j, s, a in speed], digits=2))
        print(report.table(["candidates per GPU", "round s", "candidates/h"],
                           [list(row) for row in shares], digits=1))


if __name__ == "__main__":
    app.run(main)
