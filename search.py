"""The MemNAS search loop (paper Figure 1a, Sections 3.1-3.4), with its command line.

``run`` is the rounds of a search, each ``rounds.run_round`` (its seven steps: generate,
measure, select, evaluate, pick the base, train the controller, record), then the final
network; ``replay`` is where a resumed search stands after the rounds it finished.

The search stops after ``rounds`` rounds or when no candidate of a round improves y (y <= 0);
with ``patience`` P (not in the paper) only after P + 1 such rounds in a row, each keeping the
base and picking among the candidates not evaluated since that base was chosen.
Round 0 has no base network: it is scored against a reference with chance accuracy and the
median memory of its candidates. Then ``final.train_final`` trains the final network from scratch
for ``final_epochs`` on training + validation data and tests it on the test split.

With ``inherit`` (network morphism; not in the paper) every candidate after round 0 starts from
its base's trained weights (inherit.py: a grown candidate computes its base's function before
any training) and ``epochs`` is its fine-tuning budget, the learning rate restarted; the base's
model is kept in the out_dir at the end of each round. An accuracy is then a property of the
network *and* the base it came from, so no accuracy is reused across rounds.

Everything is written to ``out_dir`` (records.py) as it happens, and rerunning with the same
``out_dir`` resumes: a round's selection is recorded before training starts, each trained
candidate is one line of ``candidates.jsonl``, and the controller is retrained from that file
with a fixed seed, so nothing already trained is trained again and a resumed search ends where
an uninterrupted one would.

    python search.py --lambda_=0.5 --dataset=cifar10 --out_dir=runs/lambda05
"""

import dataclasses
import functools
import sys
import time

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

import arch_json
import cells
import evaluation
import final
import guard
import inputs
import lifetime
import nb201
import parallel
import pareto
import meters
import recipes
import records
import rounds
import search_config
import spaces
from efficiency import Stats, memory_efficiency


def define_flags():
    """The command line; defined only when this file runs as a script, so that other scripts
    can import it as a library without a clash of flag names."""
    defaults = search_config.SearchConfig()
    flags.DEFINE_float("lambda_", defaults.lambda_, "Trade-off of Eq. 4: 1 = accuracy only, "
                       "0 = memory only.")
    flags.DEFINE_enum("space", defaults.space, list(spaces.SPACES), "Search space: memnas "
                      "(the paper's) or nb201 (NAS-Bench-201's cells, their accuracies looked "
                      "up in --benchmark's table: nothing trained, a search in seconds).")
    flags.DEFINE_string("benchmark", nb201.BENCHMARK, "With --space=nb201: the table, nb201 "
                        "(the copy shipped in reproduce/data) or nb201:PATH (a CSV with an arch "
                        "column of the benchmark's strings).")
    flags.DEFINE_string("target_column", nb201.ACCURACY_COLUMN, "With --space=nb201: the "
                        "table's column a candidate's accuracy is read from.")
    flags.DEFINE_bool("front_png", True, "Draw pareto.png every round (--nofront_png: only "
                      "pareto.json).")
    flags.DEFINE_string("dataset", "cifar10", inputs.DATASET_HELP)
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory.")
    flags.DEFINE_integer("input_size", None, inputs.INPUT_SIZE_HELP)
    flags.DEFINE_integer("rounds", defaults.rounds, "Search rounds, round 0 included.")
    flags.DEFINE_integer("k", defaults.k, "Candidates trained per round.")
    flags.DEFINE_integer("round0_k", defaults.round0_k, "Candidates trained in round 0 "
                         "(default: k). Round 0 is ranked by memory alone; 28 trains all of it.")
    flags.DEFINE_integer("patience", defaults.patience, "Rounds in a row that may improve "
                         "nothing before the search stops (the paper: 0). Such a round keeps "
                         "its base and picks among the candidates not evaluated yet from it.")
    flags.DEFINE_enum("strategy", defaults.strategy, search_config.STRATEGIES,
                      "How a round picks its k: memnas (the SCC), memory (the memory terms of "
                      "Eq. 4 only) or random (seeded).")
    recipes.define_recipe_flags(epochs_help="per candidate (with --inherit: fine-tuning epochs; "
                                "round 0 trains from scratch)")
    flags.DEFINE_bool("inherit", defaults.inherit, "Candidates start from their base's trained "
                      "weights (network morphism, inherit.py) instead of from scratch.")
    flags.DEFINE_integer("final_epochs", defaults.final_epochs, "Train the final network from "
                         "scratch for this many epochs on training + validation data and test "
                         "it (final/); 0: skip.")
    flags.DEFINE_bool("export_final", True, "Export the final network to TFLite (float32 and "
                      "int8) and measure its TFLite-Micro arena (final/, export.py).")
    flags.DEFINE_integer("filters", 64, "Filters of the first block (w).")
    flags.DEFINE_integer("train_examples", None, "Use only this many training images.")
    flags.DEFINE_float("val_fraction", 0.1, "Share of the training data held out for selection.")
    flags.DEFINE_string("out_dir", "runs/search", "Where the search writes and resumes.")
    flags.DEFINE_string("base", None, "Start from this architecture (JSON) instead of round 0.")
    flags.DEFINE_integer("bytes", defaults.bytes_per_value, "Bytes per value for p and r "
                         "(4 = float32).")
    flags.DEFINE_enum("schedule", defaults.schedule, lifetime.SCHEDULES, "Lifetime schedule "
                      "for r.")
    flags.DEFINE_string("max_param_bytes", None, "Hard budget on the parameter memory p, as "
                        "the search measures it (--bytes per value): candidates over it are "
                        f"never ranked nor trained. Bytes: {search_config.BYTES_HELP}.")
    flags.DEFINE_string("max_activation_bytes", None, "Hard budget on the intermediate memory "
                        "r, as the search measures it (--bytes per value, --schedule): "
                        "candidates over it are never ranked nor trained. Bytes: "
                        f"{search_config.BYTES_HELP}.")
    flags.DEFINE_integer("controller_epochs", defaults.controller_epochs,
                         "SCC training epochs per round.")
    flags.DEFINE_integer("list_size", defaults.list_size, "Candidates the SCC ranks together.")
    flags.DEFINE_enum("controller_target", defaults.controller_target,
                      search_config.CONTROLLER_TARGETS,
                      "What the SCC learns: 'accuracy' (rank by Eq. 4 with predicted accuracy "
                      "and exact p, r) or 'y' (the paper: Eq. 3, the SCC predicts y itself).")
    flags.DEFINE_integer("seed", defaults.seed, "Seed of training, controller and data split.")
    flags.DEFINE_integer("verbose", 0, "Keras verbosity while training a candidate.")
    flags.DEFINE_enum("mixed_precision", "float32", recipes.MIXED_PRECISION, "Train candidates "
                      "and the final network under this Keras dtype policy (GPU fast path; "
                      "changes the numbers).")
    flags.DEFINE_bool("jit_compile", None, "Compile training steps with XLA (--nojit_compile: "
                      "never). Default: Keras' choice, XLA on a GPU.")
    flags.DEFINE_integer("workers", 1, "Candidates trained at once, each a Ray task in its own "
                         "process; 1: one after the other in this process, no Ray.")
    flags.DEFINE_string("ray_address", None, "Join this Ray cluster (HOST:PORT of `ray start "
                        "--head`) instead of starting a private one on this machine.")
    flags.DEFINE_float("cpus_per_candidate", None, "CPU cores per candidate (default: the "
                       "cores divided among --workers).")
    flags.DEFINE_float("gpus_per_candidate", None, "GPUs per candidate, e.g. 0.25: four on one "
                       "GPU (default: the GPUs divided among --workers, at most 1).")
    flags.DEFINE_bool("run_eagerly", False, "Train candidates and the controller eagerly: faster "
                      "when each trains for only a few batches (scaled-down searches), slower "
                      "otherwise.")


# Settings a resumed search may change: how long and how it runs, not what it computes (the
# final training is redone when its epochs change).
MAY_CHANGE = (("search.rounds", "search.final_epochs", "search.patience")
              + tuple(f"train.{name}" for name in recipes.EXECUTION_ONLY))


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a search stands after its rounds so far: the network kept (None before round 0),
    its Stats, round 0's best, the rounds done, how many of the last ones in a row improved
    nothing (`stalled`: they kept the base), and whether the search stopped (more such rounds
    than its patience)."""
    base: cells.Arch | None = None
    base_stats: Stats | None = None
    round0_best: Stats | None = None
    rounds: int = 0
    stalled: int = 0
    stopped: bool = False

    def after(self, round_record, patience=0):
        """The progress once `round_record` (a records.Round) is done."""
        stalled = 0 if round_record.improved else self.stalled + 1
        return Progress(round_record.best_arch, round_record.best,
                        self.round0_best or round_record.best, round_record.round + 1,
                        stalled, stalled > patience)


def replay(finished, patience=0):
    """The progress of a search that finished the rounds `finished` (rounds.jsonl) before it
    was stopped: each round as it ended, nothing trained again."""
    progress = Progress()
    for round_record in finished:
        progress = progress.after(round_record, patience)
        if progress.stopped:
            break
    return progress


def run(out_dir, data, config, train_config, base=None, evaluator=None, log=print,
        front_png=True, deploy=True, progress_bar=False):
    """Search, writing to `out_dir`; resumes what `out_dir` already holds; a records.Summary.

    data: an inputs.Data (or, with an `evaluator` that needs no data, anything with `name`,
    `input_shape` and `num_classes`; with config.space "nb201", an nb201.Benchmark).
    train_config: a recipes.TrainConfig; its filters set the network width, and the default
    evaluator trains with it (seed replaced per candidate). base: a starting architecture
    instead of round 0. evaluator: see evaluation.Job and evaluation.Outcome; default
    evaluation.TrainEvaluator(data, train_config, config.inherit), or for "nb201"
    evaluation.TableEvaluator of the benchmark's table. Its `description` (or its name) is
    recorded.
    front_png: draw pareto.png beside pareto.json every round (False: pareto.json only; in a
    search that trains nothing, drawing would take most of its time).
    deploy: export the final network to TFLite and measure it in TFLite-Micro
    (`final.deploy_final`).
    progress_bar: draw a bar of each round's candidates between the lines (a terminal's; `log`
    then meters.terminal_log).
    """
    rounds.check_start(base, train_config.filters, config, data)
    if evaluator is None:
        evaluator = evaluation.TableEvaluator(data.path, data.column) \
            if config.space == "nb201" else \
            evaluation.TrainEvaluator(data, train_config, config.inherit)
    out = records.OutDir(out_dir)
    out.start(records.RunConfig(
        config, dataclasses.asdict(train_config), data.name,
        getattr(evaluator, "description", None) or getattr(evaluator, "__name__", "?"),
        None if base is None else spaces.of(config.space).key(base)), MAY_CHANGE, log)
    if getattr(data, "class_names", ()):  # what the network's outputs mean, for a deployment
        guard.write_json(out.file("class_names.json"), list(data.class_names))
    search = rounds.Search(out, rounds.State(out.candidates()), config, data,
                           train_config.filters, evaluator, base,
                           tf.summary.create_file_writer(out.tensorboard_dir), front_png, log,
                           progress_bar=progress_bar, controller_eagerly=train_config.run_eagerly)
    start = time.time()
    progress, front_written = replay(out.rounds(), config.patience), False
    resumed_at = progress.rounds
    meter = meters.Meter(config.rounds - resumed_at, " rounds")  # those left to run
    while not progress.stopped and progress.rounds < config.rounds:
        round_record = rounds.run_round(search, progress.rounds, progress)
        if round_record is None:
            break
        progress, front_written = progress.after(round_record, config.patience), True
        log(f"search: {meter.line(progress.rounds - resumed_at)} (if it runs them all)")
        if progress.stopped:
            log(f"no candidate improved y in {progress.stalled} round(s) in a row "
                f"(--patience={config.patience}): stopping")
    finished = final.train_final(out, data, progress.base, progress.base_stats, config,
                                 train_config, log, deploy)
    if finished is not None or not front_written:  # the final network's point, or a resumed one
        pareto.write(out, search.state.records, finished, config, front_png)
    summary = records.Summary(
        rounds=progress.rounds, best_arch=progress.base, best=progress.base_stats,
        round0_best=progress.round0_best,
        y_vs_round0=memory_efficiency(progress.base_stats, progress.round0_best,
                                      config.lambda_),
        trained=len(search.state.records), seconds=round(time.time() - start, 3),
        final=finished)
    out.write_summary(summary)
    return summary


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if not FLAGS["verbosity"].present:
        # A search builds, traces and exports many models: TensorFlow's INFO lines (absl's
        # default) and its retracing warnings would bury the search's own lines. --verbosity=0
        # brings them back.
        logging.set_verbosity(logging.WARNING)
        tf.get_logger().setLevel("ERROR")
    with guard.one_line_errors("search.py"):
        budgets = {}
        for name in ("max_param_bytes", "max_activation_bytes"):
            try:
                budgets[name] = search_config.parse_bytes(FLAGS[name].value)
            except ValueError as e:
                raise ValueError(f"--{name}: {e}") from None
        config = search_config.SearchConfig(
            lambda_=FLAGS.lambda_, rounds=FLAGS.rounds, k=FLAGS.k, bytes_per_value=FLAGS.bytes,
            schedule=FLAGS.schedule, strategy=FLAGS.strategy,
            controller_epochs=FLAGS.controller_epochs, list_size=FLAGS.list_size,
            controller_target=FLAGS.controller_target, seed=FLAGS.seed, inherit=FLAGS.inherit,
            final_epochs=FLAGS.final_epochs if FLAGS.space == "memnas"
            or FLAGS["final_epochs"].present else 0,
            round0_k=FLAGS.round0_k, patience=FLAGS.patience, space=FLAGS.space, **budgets)
        looked_up = config.space == "nb201"
        if looked_up and FLAGS.workers > 1:
            raise ValueError("--workers: a --space=nb201 search looks its accuracies up and "
                             "trains nothing to spread over workers")
        settings = parallel.Parallel(
            workers=FLAGS.workers, ray_address=FLAGS.ray_address,
            cpus_per_candidate=FLAGS.cpus_per_candidate,
            gpus_per_candidate=FLAGS.gpus_per_candidate)
        out = records.OutDir(FLAGS.out_dir)  # a bad --out_dir fails before the data is loaded
        # An out_dir written before a training setting existed resumes with what it computed
        # then (BatchNorm momentum 0.99, ...), unless that setting is given on the command line.
        earlier = {name: value for name, value in out.train_added_later().items()
                   if not FLAGS[name].present}
        if earlier:
            print(f"{FLAGS.out_dir} was written before these training settings existed; it "
                  "resumes with what it computed then: "
                  + ", ".join(f"{name} {value}" for name, value in earlier.items()), flush=True)
        train_config = recipes.recipe_config(
            FLAGS, **{"filters": FLAGS.filters, "seed": FLAGS.seed, "verbose": FLAGS.verbose,
                      "run_eagerly": FLAGS.run_eagerly, "mixed_precision": FLAGS.mixed_precision,
                      "jit_compile": "auto" if FLAGS.jit_compile is None else FLAGS.jit_compile,
                      **earlier})
        # On a terminal, a bar of each round's candidates; in a log file, only the lines.
        terminal = sys.stdout.isatty()
        log = meters.terminal_log if terminal else functools.partial(print, flush=True)
        if looked_up:  # nothing to load or train: the benchmark's table is the evaluator
            base = nb201.parse(FLAGS.base) if FLAGS.base else None
            data = nb201.Benchmark(nb201.benchmark_path(FLAGS.benchmark), FLAGS.target_column)
            summary = run(FLAGS.out_dir, data, config, train_config, base, log=log,
                          front_png=FLAGS.front_png, progress_bar=terminal)
        else:
            base = arch_json.load(FLAGS.base) if FLAGS.base else None
            load_args = (FLAGS.dataset, FLAGS.data_dir, FLAGS.val_fraction,
                         FLAGS.train_examples, FLAGS.seed, FLAGS.input_size)
            data = inputs.load_data(*load_args, log=log)
            with parallel.evaluator(settings, data, train_config, config.inherit, load_args,
                                    log) as evaluator:
                summary = run(FLAGS.out_dir, data, config, train_config, base, evaluator, log,
                              front_png=FLAGS.front_png, deploy=FLAGS.export_final,
                              progress_bar=terminal)
    best, ref = summary.best, summary.round0_best
    accuracy = rounds.ACCURACY[FLAGS.space]
    print(f"final network ({FLAGS.out_dir}/best_arch.json): {accuracy} {best.accuracy:.4f}, "
          f"p {best.param_bytes / 2**20:.3f} MiB, r {best.activation_bytes / 2**20:.3f} MiB; "
          f"round-0 best: {accuracy} {ref.accuracy:.4f}, p {ref.param_bytes / 2**20:.3f} MiB, "
          f"r {ref.activation_bytes / 2**20:.3f} MiB; y against the round-0 best "
          f"{summary.y_vs_round0:+.4f}")
    finished = summary.final
    if finished is not None:
        print(f"final network trained from scratch ({FLAGS.out_dir}/final/): "
              + (f"test acc {finished.test_accuracy:.4f} after {finished.epochs} epochs on "
                 f"training + validation data ({finished.seconds:.0f} s)" if finished.ok
                 else finished.status))
    if finished is not None and finished.deployed is not None:
        d = finished.deployed
        # An out_dir exported before the agreement was measured has none.
        agreement = d.get("int8_agreement")
        print(f"deployed ({FLAGS.out_dir}/final/model_int8.tflite, {d['tflite_int8_bytes']:,} B):"
              f" int8 test acc {d['int8_test_accuracy']:.4f}"
              + ("" if agreement is None else
                 f" (same class as Keras on {agreement:.1%} of the images)")
              + ", TFLite-Micro arena head "
              f"{d['tflm_arena_head_bytes']:,} B (predicted {d['planned_arena_bytes']:,} B), "
              f"tail {d['tflm_arena_tail_bytes']:,} B")


if __name__ == "__main__":
    define_flags()
    app.run(main)
