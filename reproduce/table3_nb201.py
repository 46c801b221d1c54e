"""Table 3 on NAS-Bench-201 (``table3_controller.py --benchmark=nb201[:PATH]``): the controllers
ranked on real, fully trained accuracies, beyond the paper's own search.

Table 3 claims that the SCC, which scores a candidate relative to the candidates listed before
it, ranks better than Single-RNN and Double-RNN, which score each candidate alone. Our searches
cannot test that: at the scale of these machines y is set by the memory terms and the accuracy
is noise. NAS-Bench-201 (Dong & Yang, ICLR 2020) has 15,625 cells, each trained 200 epochs on
CIFAR-10 (``nb201.py``; the CSV ships in ``reproduce/data``). Here:

* **Data**: the cells of a CSV in the benchmark's format (``nb201.read_csv``), the target one of
  its accuracy columns (``--target_column``; default the CIFAR-10 test accuracy).
* **Samples, per seed**: a random held-out set of max(holdout_sizes) cells, the smaller held-out
  sets being its first cells, and training sets of n = train_sizes (a learning curve, nested:
  the first n of one random order of the other cells). Training and held-out cells never meet.
* **Same budget**: the three controllers of ``table3.CONTROLLERS`` train on the same
  cells with the same ``table3.Budget`` (epochs, Adam, lists, loss); each seed changes
  the samples, the initial weights, the lists and the order the held-out sets are scored in
  (lists of list_size, as the search scores, in a seeded random order). Mean +- std over seeds;
  "SCC - X" rows are the difference paired by seed, mean +- std over seeds.
* **References**: a random order, and the ranking by parameter count (``nb201.param_count``,
  more parameters ranked higher), the benchmark's cheap proxy.
* **Held-out size**: the paper does not state its held-out set. Random AP@k and NDCG@k depend on
  it (random AP@50 is about 0.08 of 200 candidates, under 0.01 of 1,000), so one table per
  held-out size: compare controllers within a table, not values across tables or with the
  paper's.
"""

import dataclasses
import os
import time

import numpy as np

import nb201
import ranking
from reproduce import paper
from reproduce import report
from reproduce import table3

BENCHMARK = nb201.BENCHMARK
RANDOM_ROW, PARAMS_ROW = "Random order", "Parameter count"
RANDOM_ORDERS = 40  # random rankings per seed's held-out set, for the reference row
GAPS = (("SCC", "Single-RNN"), ("SCC", "Double-RNN"))  # paired differences shown
SMOKE = dict(train_sizes=(40,), holdout_sizes=(30, 60))  # with table3_controller.SMOKE_BUDGET
BUDGET = table3.Budget(**{name: table3.DEFAULTS[BENCHMARK][name]
                          for name in ("seeds", "epochs", "learning_rate")})


@dataclasses.dataclass(frozen=True)
class Setup:
    """The data and the samples: a CSV, its target column, the training and held-out sizes."""
    path: str = nb201.DEFAULT_CSV
    column: str = nb201.ACCURACY_COLUMN
    train_sizes: tuple = (100, 300, 1000)
    holdout_sizes: tuple = (200, 1000)

    def __post_init__(self):
        """Sizes positive and distinct (held-out: at least 2)."""
        for flag, sizes, least in (("--train_sizes", self.train_sizes, 1),
                                   ("--holdout_sizes", self.holdout_sizes, 2)):
            if not sizes or min(sizes) < least or len(set(sizes)) != len(sizes):
                raise ValueError(f"{flag}: must be distinct sizes of at least {least}, got "
                                 f"{','.join(map(str, sizes)) or 'none'}")

    def require(self, total):
        """A ValueError unless `total` cells hold the largest training and held-out set side
        by side."""
        if max(self.train_sizes) + max(self.holdout_sizes) > total:
            raise ValueError(f"--train_sizes, --holdout_sizes: {max(self.train_sizes)} + "
                             f"{max(self.holdout_sizes)} cells needed, {self.path} has "
                             f"{total}")


def sample(total, setup, seed):
    """({n: training indices}, {h: held-out indices}) of `total` cells for one seed: the
    held-out sets are the first h of a random order, the training sets the first n after the
    largest held-out set, so that none meets a held-out set."""
    order = np.random.default_rng(seed).permutation(total)
    held = max(setup.holdout_sizes)
    return ({n: order[held:held + n] for n in setup.train_sizes},
            {h: order[:h] for h in setup.holdout_sizes})


def compare(cells, y, setup, budget, log=print):
    """Every controller, training size, held-out size and seed: {h: {n: {row: summary}}}, the
    rows CONTROLLERS' labels and then "SCC - X" (paired differences by seed)."""
    reports = {h: {n: {label: [] for _, label in table3.CONTROLLERS}
                   for n in setup.train_sizes} for h in setup.holdout_sizes}
    kept = {}  # one controller a kind, reinitialized for each seed and n
    for seed in range(budget.seeds):
        train, held = sample(len(cells), setup, seed)
        for n in setup.train_sizes:
            for kind, label in table3.CONTROLLERS:
                start = time.time()
                controller = budget.train(kind, seed, [cells[i] for i in train[n]], y[train[n]],
                                          space="nb201", kept=kept)
                for h in setup.holdout_sizes:
                    reports[h][n][label].append(table3.rank_held_out(
                        controller, [cells[i] for i in held[h]], y[held[h]], seed))
                last = reports[max(setup.holdout_sizes)][n][label][-1]
                log(f"seed {seed} n {n} {label}: held-out {max(setup.holdout_sizes)}: " +
                    "  ".join(f"{m} {last[m]:.3f}" for m in table3.METRICS) +
                    f"  ({time.time() - start:.1f}s)")
    results = {}
    for h, by_n in reports.items():
        results[h] = {}
        for n, rows in by_n.items():
            results[h][n] = {label: table3.summarize(runs) for label, runs in rows.items()}
            for ours, other in GAPS:
                results[h][n][f"{ours} - {other}"] = table3.summarize([
                    {m: a[m] - b[m] for m in table3.METRICS}
                    for a, b in zip(rows[ours], rows[other])])
    return results


def references(cells, y, setup, seeds, seed=0):
    """{h: {RANDOM_ROW, PARAMS_ROW: summary}} over the seeds' held-out sets."""
    params = np.array([nb201.param_count(cell) for cell in cells], np.float64)
    rng = np.random.default_rng(seed)
    refs = {}
    for h in setup.holdout_sizes:
        held = [sample(len(cells), setup, s)[1][h] for s in range(seeds)]
        refs[h] = {RANDOM_ROW: table3.summarize([
            ranking.ranking_report(y[index], rng.permutation(h))
            for index in held for _ in range(RANDOM_ORDERS)]),
            PARAMS_ROW: table3.summarize([ranking.ranking_report(y[index], params[index])
                                          for index in held])}
    return refs


def format_table(results, refs, h):
    """Held-out size h: the paper's rows, ours by training size (mean +- std; paired
    differences signed), then the references."""
    header = ["n train", "controller", *table3.column_names(h), "Kendall tau", "Spearman rho"]

    def cells_of(summary, signed=False):
        sign = "+" if signed else ""
        return [None if summary[m]["mean"] is None else
                f"{summary[m]['mean']:{sign}.3f} ± {summary[m]['std']:.3f}"
                for m in table3.METRICS]

    rows = [["—", f"{label} (paper)", *paper.TABLE3[label], None, None]
            for _, label in table3.CONTROLLERS]
    for n, by_row in results[h].items():
        rows += [[n, label, *cells_of(summary, signed=" - " in label)]
                 for label, summary in by_row.items()]
    rows += [["—", label, *cells_of(summary)] for label, summary in refs[h].items()]
    return report.table(header, rows, digits=3)


def plot(results, refs, setup, path, title):
    """Learning curves on the largest held-out set: one panel per metric, the controllers'
    mean +- std against n, the references as horizontal lines."""
    plt = report.pyplot()
    h = max(setup.holdout_sizes)
    sizes = list(setup.train_sizes)
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for ax, metric in zip(axes.flat, table3.METRICS):
        for _, label in table3.CONTROLLERS:
            summary = [results[h][n][label][metric] for n in sizes]
            ax.errorbar(sizes, [s["mean"] for s in summary], [s["std"] for s in summary],
                        marker="o", capsize=3, label=label)
        for label, style in ((RANDOM_ROW, "--"), (PARAMS_ROW, ":")):
            ax.axhline(refs[h][label][metric]["mean"], color="black", linestyle=style,
                       label=label)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set_xlabel("training architectures")
        ax.set_title(metric)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    report.save_figure(fig, path)


def notes(setup, budget, total, refs):
    """Where every number of the tables came from."""
    held = max(setup.holdout_sizes)
    lines = [
        "paper: Table 3 (their CIFAR-10 search's candidates, target y of Eq. 4; held-out set "
        "not stated)",
        f"ours: NAS-Bench-201, {setup.path}, column {setup.column}: {total} cells, each a "
        f"sequence of 6 edge tokens (position, op)",
        f"ours: per seed 0..{budget.seeds - 1}, a random held-out set of {held} cells (the "
        f"smaller held-out sets are its first cells) and nested training sets of n = "
        f"{', '.join(map(str, setup.train_sizes))} from the other cells",
        f"ours: every controller {budget.epochs} epochs, Adam {budget.learning_rate:g}, lists "
        f"of {budget.list_size}, {budget.batch_size} lists a batch, loss {budget.loss}; held-out "
        f"sets scored in lists of {budget.list_size}, in a seeded random order",
        "ours: mean ± std over seeds; SCC - X: the difference of the two controllers paired by "
        "seed (same samples), mean ± std over seeds",
        f"random order: {RANDOM_ORDERS} random rankings of each seed's held-out set; parameter "
        "count: nb201.param_count, more parameters ranked higher, ties in the random order of "
        "the held-out set",
        "held-out size: random AP@50 is " + ", ".join(
            f"{refs[h][RANDOM_ROW]['AP@50']['mean']:.3f} of {h}" for h in setup.holdout_sizes)
        + ": absolute values depend on it, so compare controllers within one held-out size"]
    small = [h for h in setup.holdout_sizes if h <= 100]
    if small:
        lines.append(f"held-out sets of {', '.join(map(str, small))} <= 100 cells: the @k "
                     "columns with k >= h are at k = h, and AP@h is 1.0 for any ranking")
    return lines


def run(out_dir, setup=Setup(), budget=BUDGET, smoke=False, log=print):
    """Table 3 on NAS-Bench-201: print one table per held-out size and write
    OUT_DIR/table3_nb201.json and .png; returns what the JSON holds."""
    cells, y = nb201.read_csv(setup.path, setup.column)
    setup.require(len(cells))
    log(f"{setup.path}: {len(cells)} cells, target {setup.column}")
    results = compare(cells, y, setup, budget, log)
    refs = references(cells, y, setup, budget.seeds)
    lines = notes(setup, budget, len(cells), refs)
    tables = {h: format_table(results, refs, h) for h in setup.holdout_sizes}
    log("\n\n".join(f"held-out sets of {h} cells\n{text}" for h, text in tables.items())
        + "\n" + "\n".join(lines))
    png = os.path.join(out_dir, "table3_nb201.png")
    plot(results, refs, setup, png, f"Table 3 on NAS-Bench-201 ({setup.column}): controllers "
         f"ranking {max(setup.holdout_sizes)} held-out cells, loss {budget.loss}"
         + (", SMOKE" if smoke else ""))
    data = {"paper": {label: dict(zip(table3.PAPER_METRICS, paper.TABLE3[label]))
                      for _, label in table3.CONTROLLERS},
            # JSON keys are strings: held-out size, then training size.
            "ours": {str(h): {str(n): rows for n, rows in by_n.items()}
                     for h, by_n in results.items()},
            "references": {str(h): rows for h, rows in refs.items()},
            "setup": {**dataclasses.asdict(setup), "cells": len(cells), "smoke": smoke},
            "budget": dataclasses.asdict(budget), "notes": lines,
            "tables": {str(h): text for h, text in tables.items()}, "png": png}
    report.write_results(out_dir, "table3_nb201", data, log)
    return data
