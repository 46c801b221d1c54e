"""Benchmark: the whole search on NAS-Bench-201, against whole-space baselines at equal queries.

Every one of the benchmark's 15,625 cells has a fully trained accuracy (the table's column) and
an exact memory p + r (nb201.py, lifetime.py), so the best accurate-and-small networks are
known: the true Pareto front of accuracy against p + r. Each method queries cells one at a time
(a query: one accuracy looked up); after N queries its found front is measured by

* HV ratio: the hypervolume of the queried (accuracy, p + r) points over the true front's,
  with the reference point at the column's *median* accuracy and the largest p + r (with
  chance accuracy as reference every method scores ~0.99 and the ratio says nothing);
* regret under a memory budget: the best accuracy in the table with p + r within 10 / 25 / 50 %
  of the largest, less the best found within it, in accuracy points.

Methods: MemNAS (search.py --space=nb201: grow/trim + SCC + Eq. 4) and its `memory` and
`random` arms, each a whole search whose candidates are its queries in the order looked up;
the paper stops a search at the first round that improves nothing, which here ends every
search after about 3 rounds, so the arms run with --patience (default: until N; 0: the
paper's rule) and may still stop before N when every neighbour of their base was looked up;
random search over the whole space;
regularized evolution (Real et al. 2019) with population 10 and sample 3, the benchmark's own
settings, one random edge changed per mutation; local search (White et al. 2021): the best
neighbour (one edge changed) of the current cell until none is better, then a random restart.
The single-objective baselines score a cell by Eq. 4 (same lambda) against one fixed
reference, the table's median accuracy and median p and r.

Resumable: each (method, seed) is one line of OUT_DIR/queries.jsonl; the searches' out_dirs
are kept in OUT_DIR/searches/.

    python bench/nb201_search.py                 # default: 20 seeds, N = 25 ... 400
    python bench/nb201_search.py --smoke         # 1 seed, N = 10, 20, in a minute
"""

import functools
import os
import statistics

from absl import app
from absl import flags
import numpy as np

import evaluation
import guard
import lifetime
import nb201
import pareto
import recipes
import records
import search
import search_config
import spaces
from efficiency import Stats, memory_efficiency
from reproduce import nb201_memory
from reproduce import report

NAME = "nb201_search"
SEARCH_ARMS = ("memnas", "memory", "random")  # search.py --strategy
BASELINES = ("random_search", "rea", "local_search")
BUDGETS = (0.10, 0.25, 0.50)  # of the largest p + r
POPULATION, SAMPLE = 10, 3  # regularized evolution, as the benchmark's own scripts


def define_flags():
    flags.DEFINE_string("benchmark", nb201.BENCHMARK, "nb201 (the shipped table) or "
                        "nb201:PATH.")
    flags.DEFINE_string("target_column", nb201.ACCURACY_COLUMN, "The table's accuracy column.")
    flags.DEFINE_integer("seeds", 20, "Seeds per method.")
    flags.DEFINE_list("queries", ["25", "50", "100", "200", "400"], "Query budgets N.")
    flags.DEFINE_list("methods", list(SEARCH_ARMS + BASELINES), "Methods to run.")
    flags.DEFINE_float("lambda_", 0.5, "Eq. 4's trade-off, for every method.")
    flags.DEFINE_integer("k", 10, "Search arms: candidates per round.")
    flags.DEFINE_integer("controller_epochs", 20, "Search arms: SCC epochs per round.")
    flags.DEFINE_integer("patience", 1000, "Search arms: rounds in a row without a better y "
                         "before a search stops (search.py --patience; the paper: 0).")
    flags.DEFINE_enum("schedule", "paper", list(lifetime.SCHEDULES), "Lifetime schedule of r.")
    flags.DEFINE_string("out_dir", "runs/bench/nb201_search", "Where results are kept.")
    flags.DEFINE_bool("smoke", False, "1 seed, N = 10, 20: every code path in a minute.")


class Table:
    """Every cell of the benchmark: its accuracy (a fraction) and exact p and r in bytes."""

    def __init__(self, path, column, schedule, bytes_per_value=4):
        evaluator = evaluation.TableEvaluator(path, column)
        self.path, self.column, self.evaluator = path, column, evaluator
        self.cells = list(evaluator.accuracy)
        self.index = {cell: i for i, cell in enumerate(self.cells)}
        self.accuracy = np.array([evaluator.accuracy[c] for c in self.cells])
        data = nb201.Benchmark(path, column)
        config = search_config.SearchConfig(space="nb201", final_epochs=0, schedule=schedule,
                                            bytes_per_value=bytes_per_value)
        p, r = zip(*table_memory(self.cells, config, data))
        self.p, self.r = np.array(p), np.array(r)
        self.total = self.p + self.r
        self.reference = (float(np.median(self.accuracy)), float(self.total.max()))
        self.true_hv = pareto.hypervolume(np.stack([self.accuracy, self.total], 1),
                                          self.reference)
        self.median = Stats(float(np.median(self.accuracy)), float(np.median(self.p)),
                            float(np.median(self.r)))
        everything = range(len(self.cells))
        self.best = {b: self.best_within(everything, b) for b in BUDGETS}  # the table's

    def y(self, i, lambda_):
        """Eq. 4 of cell i against the fixed median reference: the baselines' scalar."""
        return memory_efficiency(Stats(self.accuracy[i], self.p[i], self.r[i]), self.median,
                                 lambda_)

    def best_within(self, indices, fraction):
        """The best accuracy among `indices` with p + r within `fraction` of the largest."""
        limit = fraction * self.total.max()
        inside = [self.accuracy[i] for i in indices if self.total[i] <= limit]
        return max(inside, default=0.0)

    def metrics(self, queried, n):
        """HV ratio and regret per budget (accuracy points) of the first `n` queries."""
        found = queried[:n]
        points = np.stack([self.accuracy[found], self.total[found]], 1) if found else []
        return {"hv_ratio": pareto.hypervolume(points, self.reference) / self.true_hv,
                **{f"regret_{int(b * 100)}": 100 * (self.best[b] - self.best_within(found, b))
                   for b in BUDGETS}}


def table_memory(cells, config, data, checked=8):
    """(p, r) in bytes of each of `cells` under `config` (its schedule and bytes per value),
    read from reproduce/data/nb201_memory.csv where it holds them (CIFAR-10's shapes), else
    measured (spaces.NB201.memory). A seeded sample of `checked` cells read is measured too,
    and a difference is an error: the shipped table must be what the code measures."""
    def measured(cell):
        stats = spaces.NB201.memory(cell, None, config, data)
        return stats.param_bytes, stats.activation_bytes

    shipped = {}
    if (data.num_classes, tuple(data.input_shape)) == (10, nb201.INPUT_SHAPE) \
            and config.bytes_per_value in (1, 4):
        shipped = nb201_memory.read(cells, config.schedule, config.bytes_per_value)
    read = sorted(shipped, key=nb201.to_string)
    for i in np.random.default_rng(0).permutation(len(read))[:checked]:
        cell = read[i]
        if measured(cell) != shipped[cell]:
            raise ValueError(f"{nb201_memory.SHIPPED}: {nb201.to_string(cell)} has (p, r) "
                             f"{shipped[cell]}, the code measures {measured(cell)}; rerun "
                             "reproduce/nb201_memory.py --out= that file")
    return [shipped[cell] if cell in shipped else measured(cell) for cell in cells]


@functools.lru_cache(maxsize=2)
def load_table(path, column, schedule):
    """The Table of (path, column, schedule), built once per process (a test runs main
    twice)."""
    return Table(path, column, schedule)


# ---------------------------------------------------------------------------------------------
# The whole-space baselines: each returns the cells it queried, in order, distinct
# ---------------------------------------------------------------------------------------------

def _neighbours(table, i):
    """The table's cells one edge away from cell i (of the whole benchmark's: 6 edges x 4
    other ops), as indices."""
    cell = table.cells[i]
    return [table.index[c] for c in (cell._replace(**{field: op})
                                     for field, now in zip(nb201.Cell._fields, cell)
                                     for op in nb201.OPS if op != now) if c in table.index]


def random_search(table, n, rng, lambda_):
    del lambda_
    return [int(i) for i in rng.permutation(len(table.cells))[:n]]


def rea(table, n, rng, lambda_):
    """Regularized evolution: a population of the last POPULATION queried; each step the best
    of SAMPLE drawn from it by Eq. 4 is mutated (one edge to another op, a cell not queried
    yet) and queried, and the oldest leaves."""
    queried, seen, population = [], set(), []

    def query(i):
        if i not in seen:
            seen.add(i)
            queried.append(i)
        population.append(i)

    while len(population) < POPULATION and len(queried) < n:
        query(int(rng.integers(len(table.cells))))
    while len(queried) < n:
        sample = [population[int(j)] for j in rng.choice(len(population), SAMPLE)]
        parent = max(sample, key=lambda i: table.y(i, lambda_))
        # A mutation is drawn among the neighbours not queried yet (a repeat costs nothing and
        # teaches nothing); where all were, among every cell not queried yet.
        children = [i for i in _neighbours(table, parent) if i not in seen] or \
            [i for i in range(len(table.cells)) if i not in seen]
        query(children[int(rng.integers(len(children)))])
        population.pop(0)
    return queried


def local_search(table, n, rng, lambda_):
    """From a random cell, query all its neighbours and move to the best by Eq. 4 while it is
    better; at a local optimum, restart from a random cell."""
    queried, seen = [], set()

    def query(i):
        if i not in seen and len(queried) < n:
            seen.add(i)
            queried.append(i)

    while len(queried) < n:
        current = int(rng.integers(len(table.cells)))
        query(current)
        while len(queried) < n:
            around = _neighbours(table, current)
            for i in around:
                query(i)
            best = max(around, key=lambda i: table.y(i, lambda_), default=current)
            if table.y(best, lambda_) <= table.y(current, lambda_):
                break
            current = best
    return queried


BASELINE_FUNCTIONS = {"random_search": random_search, "rea": rea, "local_search": local_search}


# ---------------------------------------------------------------------------------------------
# The search arms
# ---------------------------------------------------------------------------------------------

def search_arm(table, strategy, seed, n, settings, out_dir):
    """The cells a whole search.py --space=nb201 search (`strategy`) looked up, in order, at
    most `n`: it runs rounds of k until it has looked up `n`, unless it stops before (more
    rounds in a row without a better y than its patience, or every candidate of its base
    evaluated). Accuracies a search reused from an earlier round are no query."""
    rounds = -(-n // settings["k"]) + 1
    while True:
        config = search_config.SearchConfig(
            lambda_=settings["lambda_"], rounds=rounds, k=settings["k"], strategy=strategy,
            controller_epochs=settings["controller_epochs"], list_size=2 * settings["k"],
            seed=seed, final_epochs=0, space="nb201", schedule=settings["schedule"],
            patience=settings["patience"])
        summary = search.run(out_dir, nb201.Benchmark(table.path, table.column), config,
                             recipes.TrainConfig(verbose=0), evaluator=table.evaluator,
                             log=lambda line: None, front_png=False)
        queried = [table.index[c.arch] for c in records.OutDir(out_dir).candidates()
                   if c.reused_from is None]
        if len(queried) >= n or summary.rounds < rounds:  # enough, or it stopped
            return queried[:n]
        rounds += -(-(n - len(queried)) // settings["k"]) + 1  # reused accuracies: go on


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("nb201_search.py"):
        seeds = 1 if FLAGS.smoke and not FLAGS["seeds"].present else FLAGS.seeds
        budgets = [10, 20] if FLAGS.smoke else sorted(int(q) for q in FLAGS.queries)
        unknown = [m for m in FLAGS.methods if m not in SEARCH_ARMS + BASELINES]
        if unknown:
            raise ValueError(f"--methods: unknown {unknown[0]!r}; expected some of "
                             f"{', '.join(SEARCH_ARMS + BASELINES)}")
        if seeds < 1 or not budgets or budgets[0] < 1:
            raise ValueError("--seeds and --queries must be at least 1")
        table = load_table(nb201.benchmark_path(FLAGS.benchmark), FLAGS.target_column,
                           FLAGS.schedule)
        if budgets[-1] > len(table.cells):
            raise ValueError(f"--queries: {budgets[-1]} is more than the table's "
                             f"{len(table.cells)} cells")
        settings = {"lambda_": FLAGS.lambda_, "k": FLAGS.k, "schedule": FLAGS.schedule,
                    "patience": FLAGS.patience,
                    "controller_epochs": 2 if FLAGS.smoke else FLAGS.controller_epochs,
                    "column": FLAGS.target_column, "path": table.path}
        os.makedirs(FLAGS.out_dir, exist_ok=True)
        done_path = os.path.join(FLAGS.out_dir, "queries.jsonl")
        guard.drop_cut_line(done_path)
        done = {(line["method"], line["seed"]): line for line in guard.read_jsonl(done_path)
                if line.get("settings") == settings and line["n"] >= budgets[-1]}
        print(f"{len(table.cells)} cells; reference: accuracy {table.reference[0]:.4f}, "
              f"p + r {table.reference[1]:,.0f} B; true front's hypervolume "
              f"{table.true_hv:,.1f}; {len(done)} (method, seed) read back")
        for method in FLAGS.methods:
            for seed in range(seeds):
                if (method, seed) in done:
                    continue
                if method in SEARCH_ARMS:
                    queried = search_arm(table, method, seed, budgets[-1], settings,
                                         os.path.join(FLAGS.out_dir, "searches",
                                                      f"{method}_seed{seed}"))
                else:
                    queried = BASELINE_FUNCTIONS[method](
                        table, budgets[-1], np.random.default_rng(seed), FLAGS.lambda_)
                line = {"method": method, "seed": seed, "n": budgets[-1],
                        "settings": settings, "queried": queried}
                guard.append_jsonl(done_path, line)
                done[(method, seed)] = line
        rows, results = [], {}
        for method in FLAGS.methods:
            for n in budgets:
                per_seed = [table.metrics(done[(method, s)]["queried"], n)
                            for s in range(seeds)]
                summary = {name: (statistics.mean(v[name] for v in per_seed),
                                  statistics.pstdev(v[name] for v in per_seed))
                           for name in per_seed[0]}
                used = statistics.mean(min(n, len(done[(method, s)]["queried"]))
                                       for s in range(seeds))
                results.setdefault(method, {})[n] = {**summary, "queries_used": used}
                rows.append([method, n, used,
                             *(f"{m:.3f} ± {sd:.3f}" for m, sd in (summary["hv_ratio"],)),
                             *(f"{summary[f'regret_{int(b * 100)}'][0]:.2f}" for b in BUDGETS)])
        print(report.table(["method", "N", "queries used", "HV ratio",
                            *(f"regret {int(b * 100)}%" for b in BUDGETS)], rows))
        report.write_results(FLAGS.out_dir, NAME, {
            "settings": settings, "seeds": seeds, "budgets": budgets,
            "reference": table.reference, "true_hypervolume": table.true_hv,
            "results": results})
        plot(results, budgets, os.path.join(FLAGS.out_dir, f"{NAME}.png"))


def plot(results, budgets, path):
    """Hypervolume ratio against queries, one line per method."""
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, by_n in results.items():
        means = [by_n[n]["hv_ratio"][0] for n in budgets]
        ax.plot(budgets, means, marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("queries")
    ax.set_ylabel("hypervolume / true front's")
    ax.legend()
    report.save_figure(fig, path)


if __name__ == "__main__":
    define_flags()
    app.run(main)
