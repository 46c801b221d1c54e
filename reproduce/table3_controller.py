"""Table 3 of the paper (Section 4.5): the structure correlation controller against Single-RNN
and Double-RNN.

The paper trains three controllers on the candidates of its search and measures how well each
ranks candidates it has not seen, by AP@50, AP@100, NDCG@50 and NDCG@100 against their measured
memory-efficiency metric y (Eq. 4). It does not say which candidates it held out or how many.
Here:

* **Data**: real trained candidates, every "ok" record of search.py out_dirs (``--runs DIR...``),
  or, without ``--runs``, of a scaled-down search this script runs into ``OUT_DIR/search``
  (``sweep.scaled_search``; rerunning resumes it without retraining anything). The target is y
  as the search recorded it, each round's y against that round's base, as in Eq. 3. Candidates
  of several runs are pooled, so give runs of one lambda.
* **Split by round**: the controllers train on every round before the held-out round (default:
  the last one) and rank the held-out round, as a search would. A training candidate that is the
  same network as a held-out one (a trim can undo an earlier growth) is dropped from training.
* **Same budget**: SCC, Single-RNN and Double-RNN (``scc.Controller`` kinds) train on the same
  candidates with the same epochs, learning rate and lists; each seed changes the initial
  weights, the shuffling into lists and the order in which the held-out round is scored (an SCC
  score depends on the candidates before it in its list). Mean +- std over ``--seeds`` seeds.
* **References**: a random order (the mean over many) and the ranking by the exact memory terms
  of Eq. 4 alone, which is what search.py ranks by before it has a controller. The random AP@k
  depends only on k and the held-out size n, a little above (k / n)^2: 0.27 for AP@50 of 100
  candidates; 0.08 for AP@50 and 0.26 for AP@100 of 200.
* **Clipped k**: if the held-out round has n < 100 candidates, the @100 columns are computed at
  k = n (``ranking.ranking_report`` clips k), and AP@n is 1.0 for any ranking (the predicted and the
  true top n are the same set), as it is at n = 100; the table says so. Hence the default k 150.

Defaults: tensorflow-datasets' cifar10 (``--dataset=npz:PATH`` offline), lambda 0.5, 3 rounds
(0 and 1 to train on, 2 held out), top-150 per round (the paper's k is 100; 150 makes AP@100 of
the held-out round measure something), each candidate trained 1 epoch on 256 images with filters
8, eager steps. Accuracies are then chance plus noise, so y ranks the memory terms and the table
measures how well each controller learns memory from structure; ``--target=val_accuracy`` on the
same search shows whether they learn anything of the accuracy. docs/reproducing.md has the
numbers and times measured. The paper's scale: ``--dataset=cifar10 --epochs=60 --filters=64
--train_examples=0 --norun_eagerly`` (all images, traced steps), on a GPU.

``--benchmark=nb201[:PATH]`` ranks NAS-Bench-201 cells, whose accuracies are real, instead of a
search's candidates: ``reproduce/table3_nb201.py`` does that comparison with this module's
``table3.Budget`` and helpers, and ``--loss=mse+pairwise`` adds a ranking term to Eq. 3 for either.

    python reproduce/table3_controller.py                     # scaled-down search, then Table 3
    python reproduce/table3_controller.py --runs runs/lambda05  # candidates of existing searches
    python reproduce/table3_controller.py --smoke              # seconds: synthetic candidates
    python reproduce/table3_controller.py --benchmark=nb201    # NAS-Bench-201, learning curve
"""

import dataclasses
import os
import time

from absl import app
from absl import flags
import numpy as np

import guard
import inputs
import nb201
import ranking
import readers
import scc_model
from efficiency import memory_efficiency
from reproduce import paper
from reproduce import report
from reproduce import sweep
from reproduce import table3
from reproduce import table3_nb201

TARGETS = ("y", "val_accuracy")
SCALE = sweep.Scale(rounds=3, k=150, round0_k=None, epochs=1, filters=8, train_examples=256,
                     run_eagerly=True)  # 2 batches per candidate: tracing would cost more
RANDOM_ORDERS = 200  # random rankings averaged for the reference row
MEMORY_ROW = "Memory terms of Eq. 4"  # the reference row ranking by Eq. 4 without accuracy
# Each controller trains a few steps: eagerly, without the seconds of tracing its model.
SMOKE_BUDGET = dict(seeds=2, epochs=2, run_eagerly=True)
SMOKE_SEARCH = dict(rounds=3, k=60, filters=8)  # sweep.synthetic_search, a random k per round


def by_benchmark(name):
    """A flag's defaults, in words: "3, 5 with --benchmark=nb201"."""
    return ", ".join(f"{defaults[name]}" + (f" with --benchmark={benchmark}" if benchmark else "")
                     for benchmark, defaults in table3.DEFAULTS.items())


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    flags.DEFINE_list("runs", None, "search.py out_dirs (or folders of them) to take the "
                      "candidates from; default: run a scaled-down search into OUT_DIR/search.")
    flags.DEFINE_string("benchmark", None, "nb201[:PATH]: rank NAS-Bench-201 cells of a CSV "
                        "(default PATH: reproduce/data/nb201_cifar10.csv) instead of a "
                        "search's candidates (reproduce/table3_nb201.py).")
    flags.DEFINE_string("out_dir", None, "Where the JSON, the PNG and the search go; default "
                        f"{by_benchmark('out_dir')}.")
    flags.DEFINE_bool("smoke", False, "Seconds: synthetic candidates (with --benchmark: few "
                      "cells), 2 seeds, 2 controller epochs (overrides --seeds and "
                      "--controller_epochs).")
    # NAS-Bench-201 (--benchmark).
    flags.DEFINE_string("target_column", nb201.ACCURACY_COLUMN, "--benchmark: the CSV's "
                        "accuracy column to rank by.")
    flags.DEFINE_list("train_sizes", ["100", "300", "1000"], "--benchmark: training set sizes "
                      "(the learning curve).")
    flags.DEFINE_list("holdout_sizes", ["200", "1000"], "--benchmark: held-out set sizes, one "
                      "table each.")
    # The search that makes the data, when --runs is not given.
    flags.DEFINE_string("dataset", SCALE.dataset, inputs.DATASET_HELP)
    flags.DEFINE_float("lambda_", 0.5, "Eq. 4 trade-off of the search.")
    flags.DEFINE_integer("rounds", SCALE.rounds, "Search rounds; the last is held out.")
    flags.DEFINE_integer("k", SCALE.k, "Candidates trained per round (paper: 100).")
    flags.DEFINE_integer("epochs", SCALE.epochs, "Training epochs per candidate (paper: 60).")
    flags.DEFINE_integer("filters", SCALE.filters, "Filters of the first block (paper: 64).")
    flags.DEFINE_integer("train_examples", SCALE.train_examples,
                         "Training images per candidate; 0 = all.")
    flags.DEFINE_bool("run_eagerly", SCALE.run_eagerly, "Train the candidates eagerly (faster "
                      "for a few batches each; --norun_eagerly at the paper's scale).")
    flags.DEFINE_integer("workers", SCALE.workers, "Candidates trained at once, as Ray tasks "
                         "(search.py --workers); 1: in this process.")
    flags.DEFINE_integer("search_seed", 0, "Seed of the search (data split, training).")
    # The comparison.
    flags.DEFINE_integer("seeds", None, "Controller seeds 0..N-1 to average over; default "
                         f"{by_benchmark('seeds')}.")
    flags.DEFINE_integer("controller_epochs", None, "Training epochs of every controller; "
                         f"default {by_benchmark('epochs')}.")
    flags.DEFINE_float("learning_rate", None, "Adam learning rate of every controller; default "
                       f"{by_benchmark('learning_rate')}.")
    flags.DEFINE_integer("list_size", 100, "Candidates per list (the SCC ranks a list).")
    flags.DEFINE_integer("holdout_round", None, "Round to hold out; default: the last.")
    flags.DEFINE_enum("target", "y", TARGETS, "What the controllers learn and are measured "
                      "against: y of Eq. 4 (Table 3) or the validation accuracy.")
    flags.DEFINE_enum("loss", "mse", scc_model.LOSSES, "Loss of every controller: Eq. 3's MSE, or "
                      "it plus a pairwise ranking term (beyond the paper).")


# ---------------------------------------------------------------------------------------------
# The data: trained candidates, split by round
# ---------------------------------------------------------------------------------------------

def candidate_records(runs):
    """Every "ok" candidate of `runs` (readers.Run) as a dict: run (index), round, key, arch
    (cells.Arch), y, val_accuracy and memory_score, the memory terms of Eq. 4 against its
    round's base (None if that base is not recorded)."""
    found = []
    for n, run in enumerate(runs):
        bases = {rec.round: rec.base for rec in run.rounds}
        # A round still in progress has no rounds.jsonl line yet; its base is the best so far.
        bases.update({rec.round + 1: rec.best for rec in run.rounds
                      if rec.round + 1 not in bases})
        for rec in run.candidates:
            if not rec.ok:
                continue
            pre = bases.get(rec.round)
            memory = None if pre is None else memory_efficiency(
                dataclasses.replace(rec.stats, accuracy=None), pre, run.lambda_)
            found.append({"run": n, "round": rec.round, "key": rec.key, "arch": rec.arch,
                          "y": rec.y, "val_accuracy": rec.val_accuracy, "memory_score": memory})
    if not found:
        raise ValueError("the runs hold no trained candidate (status \"ok\")")
    return found


@dataclasses.dataclass(frozen=True)
class Split:
    """Training candidates (every round before the held-out one) and the held-out round."""
    train: list
    holdout: list
    holdout_round: int
    dropped: int  # training candidates dropped because the held-out round has the same network

    def describe(self):
        rounds = sorted({rec["round"] for rec in self.train})
        return (f"trained on rounds {', '.join(map(str, rounds))} ({len(self.train)} "
                f"candidates, {self.dropped} dropped as networks of the held-out round), "
                f"scored on round {self.holdout_round} ({len(self.holdout)} candidates)")


def split_by_round(records, holdout_round=None):
    """Hold out one round (default: the last); train on the rounds before it, never on a
    network the held-out round contains. Later rounds are not used."""
    if not records:
        raise ValueError("no candidates to split")
    if holdout_round is None:
        holdout_round = max(rec["round"] for rec in records)
    holdout = [rec for rec in records if rec["round"] == holdout_round]
    held_keys = {rec["key"] for rec in holdout}
    earlier = [rec for rec in records if rec["round"] < holdout_round]
    train = [rec for rec in earlier if rec["key"] not in held_keys]
    rounds = sorted({rec["round"] for rec in records})
    if len(holdout) < 2:
        raise ValueError(f"--holdout_round: round {holdout_round} has {len(holdout)} trained "
                         f"candidates, need at least 2 to rank (rounds present: {rounds})")
    if not train:
        raise ValueError(f"--holdout_round: no earlier round than {holdout_round} to train the "
                         f"controllers on (rounds present: {rounds})")
    return Split(train, holdout, holdout_round, len(earlier) - len(train))


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------

def score_controller(kind, seed, split, budget, target="y", kept=None):
    """Train one controller on split.train and rank split.holdout; ranking.ranking_report.
    kept: as in table3.Budget.train."""
    controller = budget.train(kind, seed, [rec["arch"] for rec in split.train],
                              [rec[target] for rec in split.train], kept=kept)
    return table3.rank_held_out(controller, [rec["arch"] for rec in split.holdout],
                         [rec[target] for rec in split.holdout], seed)


def references(split, target, seed=0):
    """The rows to read the controllers against: random orders, and (for y) the exact memory
    terms of Eq. 4, the search's ranking before it has a controller."""
    y = [rec[target] for rec in split.holdout]
    rng = np.random.default_rng(seed)
    rows = {"Random order": table3.summarize(
        [ranking.ranking_report(y, rng.permutation(len(y))) for _ in range(RANDOM_ORDERS)])}
    memory = [rec["memory_score"] for rec in split.holdout]
    if target == "y" and None not in memory:
        rows[MEMORY_ROW] = table3.summarize([ranking.ranking_report(y, memory)])
    return rows


def compare(split, budget, target="y", log=print):
    """Every controller kind over every seed: {label: table3.summarize(...)}, in
    table3.CONTROLLERS order."""
    results, kept = {}, {}
    for kind, label in table3.CONTROLLERS:
        reports = []
        for seed in range(budget.seeds):
            start = time.time()
            reports.append(score_controller(kind, seed, split, budget, target, kept))
            log(f"{label} seed {seed}: " + "  ".join(
                f"{m} {reports[-1][m]:.3f}" for m in table3.METRICS)
                + f"  ({time.time() - start:.1f}s)")
        results[label] = table3.summarize(reports)
    return results


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------

def format_table(results, refs, n):
    """The paper's Table 3 beside ours (mean +- std) and the reference rows."""
    header = ["controller", "source", *table3.column_names(n), "Kendall tau", "Spearman rho"]

    def ours(summary, spread=True):
        return [report.fmt(summary[m]["mean"], 3) + (
            f" ± {summary[m]['std']:.3f}" if spread and summary[m]["std"] is not None else "")
            for m in table3.METRICS]

    rows = []
    for _, label in table3.CONTROLLERS:
        rows.append([label, "paper", *paper.TABLE3[label], None, None])
        rows.append([label, "ours", *ours(results[label])])
    for label, summary in refs.items():
        rows.append([label, "ours", *ours(summary, spread=label == "Random order")])
    return report.table(header, rows, digits=3)


def plot(results, refs, n, path, title):
    """Grouped bars of the four metrics: ours (std error bars) beside the paper, per
    controller; the reference rankings as black lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(table3.PAPER_METRICS))
    width = 0.8 / (2 * len(table3.CONTROLLERS))
    colors = ("tab:blue", "tab:orange", "tab:green")
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for c, ((_, label), color) in enumerate(zip(table3.CONTROLLERS, colors)):
        mean = [results[label][m]["mean"] or 0.0 for m in table3.PAPER_METRICS]
        std = [results[label][m]["std"] or 0.0 for m in table3.PAPER_METRICS]
        offset = (2 * c - len(table3.CONTROLLERS) + 0.5) * width
        ax.bar(x + offset, mean, width, yerr=std, capsize=3, color=color,
               label=f"{label} (ours)")
        ax.bar(x + offset + width, paper.TABLE3[label], width, color=color, alpha=0.35,
               hatch="//", edgecolor=color, label=f"{label} (paper)")
    for label, style in (("Random order", "--"), (MEMORY_ROW, ":")):
        if label in refs:
            ax.hlines([refs[label][m]["mean"] for m in table3.PAPER_METRICS], x - 0.45, x + 0.45,
                      colors="black", linestyles=style, label=f"{label} (ours)")
    ax.set_xticks(x, table3.column_names(n, sep="\n"))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score on the held-out round")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_searches(out_dir, runs=None, scale=SCALE, lambda_=0.5, smoke=False, log=print):
    """The searches to take candidates from, and a line saying where they came from: `runs`
    (search.py out_dirs) if given, else synthetic candidates with `smoke`, else a search at
    `scale` (sweep.Scale) and `lambda_` run or resumed in OUT_DIR/search."""
    if runs:
        return readers.find_runs(runs), "search.py out_dirs given with --runs"
    if smoke:
        found = sweep.synthetic_search(os.path.join(out_dir, "search_synthetic"), lambda_,
                                       strategy="random", **SMOKE_SEARCH)
        return [found], (f"{sweep.SYNTHETIC}: {sweep.StandInEvaluator.description}; a random "
                         f"{SMOKE_SEARCH['k']} real candidates "
                         f"per round, exact p and r at filters {SMOKE_SEARCH['filters']}")
    path = os.path.join(out_dir, "search")
    found = sweep.scaled_search(path, scale, lambda_, log)
    return [found], f"scaled-down search into {path}: {scale.describe()}"


def notes(searches, source, split, budget, target, refs):
    """Where every number of the table came from; `refs` are the reference rows shown."""
    lines = ["paper: Table 3 (their CIFAR-10 search: k 100, 60 epochs, filters 64; held-out "
             "set not stated)", f"ours: {source}"]
    for found in searches:
        note = found.rounds_note()
        lines.append(f"  {found.out_dir}: {found.describe()}" + (f" ({note})" if note else ""))
    lines += [f"ours: {split.describe()}; target {target}",
              f"ours: mean ± std over seeds 0..{budget.seeds - 1} (initial weights, lists, "
              f"order of the held-out round); every controller {budget.epochs} epochs, Adam "
              f"{budget.learning_rate:g}, lists of {budget.list_size}, loss {budget.loss}",
              f"random order: mean ± std over {RANDOM_ORDERS} random rankings of the held-out "
              f"round" + ("; memory terms: Eq. 4 with the accuracy term left out"
                          if MEMORY_ROW in refs else "")]
    n = len(split.holdout)
    # AP@k compares the predicted and the true top-k as sets: at k = n both are everything.
    trivial = f"AP@{n} is 1.0 for any ranking (the top {n} of {n} are all of them)"
    if n < 100:
        lines.append(f"held-out round has {n} < 100 candidates: the @100 columns"
                     + (" and @50 columns" if n < 50 else "") + f" are at k = {n} "
                     f"(ranking.ranking_report clips k); {trivial}")
    elif n == 100:
        lines.append(f"held-out round has exactly 100 candidates: {trivial}; give it more "
                     f"(--k) for AP@100 to measure anything")
    return lines


def run(out_dir, runs=None, scale=SCALE, lambda_=0.5, budget=table3.Budget(), holdout_round=None,
        target="y", smoke=False, log=print):
    """Table 3: load or make the candidates (load_searches), compare the controllers, print
    the table and write OUT_DIR/table3_controller.json and .png; returns what the JSON holds."""
    if target not in TARGETS:
        raise ValueError(f"--target: must be one of {', '.join(TARGETS)}, got {target!r}")
    os.makedirs(out_dir, exist_ok=True)
    searches, source = load_searches(out_dir, runs, scale, lambda_, smoke, log)
    synthetic = bool(smoke and not runs)
    split = split_by_round(candidate_records(searches), holdout_round)
    log(f"controllers {split.describe()}; target {target}")
    results = compare(split, budget, target, log)
    refs = references(split, target)
    n = len(split.holdout)
    lines = notes(searches, source, split, budget, target, refs)
    text = format_table(results, refs, n)
    log(text + "\n" + "\n".join(lines))

    png = os.path.join(out_dir, "table3_controller.png")
    where = ("SYNTHETIC candidates (--smoke)" if synthetic else searches[0].describe()
             if len(searches) == 1 else f"{len(searches)} searches pooled")
    plot(results, refs, n, png, f"Table 3: controllers ranking the {n} candidates of round "
                                f"{split.holdout_round}\n{where}")
    data = {"paper": {label: dict(zip(table3.PAPER_METRICS, paper.TABLE3[label]))
                      for _, label in table3.CONTROLLERS},
            "ours": results, "references": refs,
            "data": {"source": source, "runs": [found.out_dir for found in searches],
                     "scale": [found.describe() for found in searches], "synthetic": synthetic,
                     "train_rounds": sorted({rec["round"] for rec in split.train}),
                     "holdout_round": split.holdout_round, "train_candidates": len(split.train),
                     "holdout_candidates": n, "dropped_duplicates": split.dropped,
                     "k": table3.clipped_k(n), "target": target},
            "budget": dataclasses.asdict(budget), "notes": lines, "table": text, "png": png}
    report.write_results(out_dir, "table3_controller", data, log)
    return data


def sizes(flag, values):
    """The integers of a list flag, e.g. --train_sizes=100,300."""
    try:
        return tuple(int(value) for value in values)
    except ValueError:
        raise ValueError(f"{flag}: must be integers, got {','.join(values)}") from None


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    smoke = FLAGS.smoke

    def log(line):
        print(line, flush=True)

    scale = dataclasses.replace(
        SCALE, dataset=FLAGS.dataset, rounds=FLAGS.rounds, k=FLAGS.k, epochs=FLAGS.epochs,
        filters=FLAGS.filters, train_examples=FLAGS.train_examples or None,  # 0: all images
        seed=FLAGS.search_seed, run_eagerly=FLAGS.run_eagerly, workers=FLAGS.workers)
    with guard.one_line_errors("table3_controller.py"):
        benchmark = FLAGS.benchmark and FLAGS.benchmark.partition(":")[0]
        if benchmark and FLAGS.runs:
            raise ValueError("--runs: not used with --benchmark (its cells are the data)")
        defaults = table3.DEFAULTS.get(benchmark, table3.DEFAULTS[None])

        def given(value, name):
            return defaults[name] if value is None else value

        out_dir = given(FLAGS.out_dir, "out_dir")
        # Checked before --smoke overrides it: a bad flag is an error in either mode.
        budget = table3.Budget(seeds=given(FLAGS.seeds, "seeds"),
                        epochs=given(FLAGS.controller_epochs, "epochs"),
                        learning_rate=given(FLAGS.learning_rate, "learning_rate"),
                        list_size=FLAGS.list_size, loss=FLAGS.loss)
        if smoke:
            budget = dataclasses.replace(budget, **SMOKE_BUDGET)
        if FLAGS.benchmark:
            setup = table3_nb201.Setup(
                nb201.benchmark_path(FLAGS.benchmark), FLAGS.target_column,
                sizes("--train_sizes", FLAGS.train_sizes),
                sizes("--holdout_sizes", FLAGS.holdout_sizes))
            if smoke:
                setup = dataclasses.replace(setup, **table3_nb201.SMOKE)
            table3_nb201.run(out_dir, setup, budget, smoke, log)
            return
        run(out_dir, FLAGS.runs, scale, FLAGS.lambda_, budget, FLAGS.holdout_round,
            FLAGS.target, smoke, log)


if __name__ == "__main__":
    define_flags()
    app.run(main)
