"""The searches the figures plot: scaled-down search.py runs, one per lambda, and synthetic ones
for --smoke.

A scaled-down search (``Scale``) is ``search.run`` itself on fewer images, a narrower network,
fewer epochs, a smaller k and fewer rounds than the paper's (CIFAR-10, 60 epochs, filters 64,
k 100). A synthetic search is ``search.run`` too, with an evaluator that trains nothing: each
candidate's accuracy is a stand-in function of its parameter count, so a figure's whole code
path runs in seconds on the real grow/trim candidates with their exact memory.
"""

import dataclasses
import math
import os
import typing

from absl import flags

import evaluation
import inputs
import lifetime
import parallel
import readers
import recipes
import search
import search_config

# One lambda sweep serves Figure 4, Figure 5 and Table 1 (--runs runs/reproduce/searches).
SEARCHES = os.path.join("runs", "reproduce", "searches")
SYNTHETIC = "SYNTHETIC (--smoke)"


@dataclasses.dataclass(frozen=True)
class Scale:
    """How far a search is scaled down from the paper's (CIFAR-10, 60 epochs, w 64, k 100).

    dataset: tensorflow-datasets' cifar10 (downloaded on first use), or npz:PATH offline.
    train_examples: training images per candidate, None for all left after the validation split.
    The candidates' training (2 epochs of the short recipe at batch 64, width 16, all training
    images) is the cheapest that bench/proxy_fidelity.py found to rank a panel of networks as
    20 epochs do (Kendall tau >= 0.6 at <= 1/8 of the cost); the final network is trained for
    those 20 epochs. Round 0 trains all 28 one-cell networks (round0_k; the paper's k = 100
    does the same): with only k of them, ranked by memory alone, it would start every search
    from the smallest pooling networks (bench/search_quality.py measured that).
    """
    dataset: str = "cifar10"
    rounds: int = 3
    k: int = 3
    round0_k: int | None = 28  # None: k
    epochs: int = 2
    filters: int = 16
    train_examples: int | None = None
    controller_epochs: int = 30
    seed: int = 0
    final_epochs: int = 20  # search.py --final_epochs; 0: figures show validation accuracy
    recipe: str = "short"  # recipes.RECIPES: candidates and the final network
    batch_size: int | None = 64  # None: the recipe's; else its learning rate scaled with it
    run_eagerly: bool = False  # recipes.TrainConfig.run_eagerly: same numbers, other speed
    workers: int = 1  # search.py --workers: candidates trained at once; same numbers

    def describe(self):
        images = "all training images" if self.train_examples is None else \
            f"{self.train_examples:,d} training images"
        return (f"{self.dataset} ({images}, 10% held out for validation), filters {self.filters} "
                f"(paper 64), {self.epochs} epochs of the {self.recipe} recipe"
                + ("" if self.batch_size is None else f" at batch {self.batch_size}")
                + f" (paper: 60 of its own), k {self.k} (paper 100)"
                + ("" if self.round0_k is None else f", {self.round0_k} in round 0")
                + f", up to {self.rounds} rounds"
                + (f", final network trained {self.final_epochs} epochs and tested"
                   if self.final_epochs else ""))


def scaled_search(out_dir, scale, lambda_, log=print, round0_cache=None):
    """A search.py run at `scale` (a Scale) into out_dir, resumed if it exists; its readers.Run.
    round0_cache: a folder where round 0 is trained once for every search of this scale that
    names it (evaluation.SharedRound0), e.g. the lambdas of a sweep; None: trained here."""
    data = inputs.load_data(scale.dataset, None, 0.1, scale.train_examples, scale.seed)
    config = search_config.SearchConfig(lambda_=lambda_, rounds=scale.rounds, k=scale.k,
                                        round0_k=scale.round0_k,
                                        controller_epochs=scale.controller_epochs,
                                        seed=scale.seed, final_epochs=scale.final_epochs)
    train_config = recipes.TrainConfig.of_recipe(
        scale.recipe, epochs=scale.epochs, filters=scale.filters, seed=scale.seed, verbose=0,
        run_eagerly=scale.run_eagerly, **recipes.batch_fields(scale.recipe, scale.batch_size))
    load_args = (scale.dataset, None, 0.1, scale.train_examples, scale.seed)
    with parallel.evaluator(parallel.Parallel(workers=scale.workers), data, train_config, False,
                            load_args, log) as evaluator:
        if round0_cache is not None:
            evaluator = evaluation.SharedRound0(round0_cache, data, train_config, False,
                                                search.MAY_CHANGE, later=evaluator)
        search.run(out_dir, data, config, train_config, evaluator=evaluator, log=log)
    return readers.load_run(out_dir)


def stand_in_accuracy(params):
    """What --smoke uses instead of training: grows with the parameter count, saturating:
    0.10 with no parameters, 0.95 - 0.85 / e = 0.637 at 40,000."""
    return 0.95 - 0.85 * math.exp(-params / 40_000)


class StandInEvaluator:
    """search.py's evaluator for --smoke: trains nothing; each candidate's accuracy is
    stand_in_accuracy of its parameter count at `filters`."""

    description = "no training: accuracy a stand-in function of the parameter count"

    def __init__(self, filters):
        self.filters = filters

    def __call__(self, job):
        for candidate in job.candidates:
            params = lifetime.arch_memory(candidate.arch, self.filters).params
            yield evaluation.Outcome(candidate.key, stand_in_accuracy(params), "ok", 0.0)


class SyntheticData(typing.NamedTuple):
    """What search.run needs of a data set when its evaluator trains nothing."""
    name: str = SYNTHETIC
    input_shape: tuple = (32, 32, 3)
    num_classes: int = 10


def synthetic_search(out_dir, lambda_, rounds=3, k=8, filters=8, strategy="memory", seed=0):
    """search.run with StandInEvaluator into out_dir (resumed if it exists): seconds, for
    --smoke. strategy: "memory" ranks by Eq. 4's memory terms (no controller to train);
    "random" draws k per round, so that they span the whole range of y (Table 3 ranks them).
    pareto.json is written, pareto.png not (drawing would take most of the time)."""
    config = search_config.SearchConfig(lambda_=lambda_, rounds=rounds, k=k, strategy=strategy,
                                        seed=seed, final_epochs=0)
    search.run(out_dir, SyntheticData(), config, recipes.TrainConfig(filters=filters, verbose=0),
               evaluator=StandInEvaluator(filters), log=lambda line: None, front_png=False)
    return readers.load_run(out_dir)


def lambda_runs(lambdas, root, scale=Scale(), log=print):
    """One scaled-down search per lambda into ROOT/lambda_LAM, run or resumed; their Runs.
    Round 0 does not depend on lambda: it is trained once, into ROOT/round0."""
    return [scaled_search(os.path.join(root, f"lambda_{float(lam)}"), scale, float(lam), log,
                          round0_cache=os.path.join(root, "round0"))
            for lam in lambdas]


def find_runs(paths):
    """readers.find_runs; where a path is the shared sweep's folder and missing, the error
    says which script makes it."""
    try:
        return readers.find_runs(paths)
    except ValueError as e:
        if any(os.path.normpath(p) == SEARCHES and not os.path.isdir(p) for p in paths):
            raise ValueError(f"{e} (python reproduce/figure5_lambda.py runs the shared lambda "
                             f"sweep into {SEARCHES})") from None
        raise


def sweep(runs, lambdas, root, scale=Scale(), smoke=False, log=print):
    """The searches a figure plots and where they came from: ({lambda: Run}, note).

    `runs`: search.py out_dirs (or folders of them) to read, as given with --runs. Without them
    a scaled-down search per lambda is run (or resumed) into `root`, or with `smoke` a
    synthetic_search (no training; `scale` gives its rounds, k and filters).
    """
    if runs:
        return readers.runs_by_lambda(find_runs(runs)), "search.py out_dirs given with --runs"
    if smoke:
        return ({float(lam): synthetic_search(os.path.join(root, f"lambda_{float(lam)}"),
                                              float(lam), scale.rounds, scale.k, scale.filters)
                 for lam in sorted(lambdas)},
                f"{SYNTHETIC}: {StandInEvaluator.description}; exact p, r of real candidates "
                f"at filters {scale.filters}")
    return (readers.runs_by_lambda(lambda_runs(lambdas, root, scale, log)),
            f"scaled-down searches in {root}: {scale.describe()}")


def define_sweep_flags(name, runs_help):
    """The flags of a script that plots a lambda sweep: --runs, --out_dir, --smoke,
    --searches and the Scale of the searches it runs without --runs."""
    default = Scale()
    flags.DEFINE_list("runs", None, f"search.py out_dirs (or folders of them): {runs_help}; "
                      "default: run scaled-down searches into --searches.")
    flags.DEFINE_string("out_dir", f"runs/reproduce/{name}",
                        f"Where {name}.png and {name}.json go.")
    flags.DEFINE_bool("smoke", False, "Seconds: synthetic searches (exact memory, stand-in "
                      "accuracy, no training) into OUT_DIR/smoke_searches.")
    flags.DEFINE_string("searches", SEARCHES, "Where the scaled-down searches are run and "
                        "resumed (one out_dir per lambda), when --runs is not given.")
    flags.DEFINE_string("dataset", default.dataset,
                        f"Data of the searches: {inputs.DATASET_HELP}")
    flags.DEFINE_integer("rounds", default.rounds, "Search rounds, round 0 included (paper: "
                         "until no improvement).")
    flags.DEFINE_integer("k", default.k, "Candidates trained per round (paper: 100).")
    flags.DEFINE_integer("round0_k", default.round0_k, "Candidates trained in round 0 (28: "
                         "all; 0: k), shared by the lambdas.")
    flags.DEFINE_enum("recipe", default.recipe, list(recipes.RECIPES), "Training recipe of "
                      "candidates and final networks (paper: its own, 'paper').")
    flags.DEFINE_integer("epochs", default.epochs, "Training epochs per candidate (paper: 60).")
    flags.DEFINE_integer("batch_size", default.batch_size, "Batch size of candidates and final "
                         "networks, the recipe's learning rate scaled with it (0: the "
                         "recipe's own).")
    flags.DEFINE_integer("filters", default.filters, "Filters of the first block (paper: 64).")
    flags.DEFINE_integer("train_examples", default.train_examples,
                         "Training images per candidate; 0: all.")
    flags.DEFINE_integer("controller_epochs", default.controller_epochs,
                         "SCC training epochs per round.")
    flags.DEFINE_integer("final_epochs", default.final_epochs, "Train each search's final "
                         "network this many epochs and report its test accuracy (paper: 60); "
                         "0: the search's validation accuracy.")
    flags.DEFINE_bool("run_eagerly", default.run_eagerly, "Train the candidates eagerly: "
                      "faster when each trains for only a few batches.")
    flags.DEFINE_integer("workers", default.workers, "Candidates trained at once, as Ray tasks "
                         "(search.py --workers); 1: in this process.")


def scale_from_flags(values):
    """The Scale that define_sweep_flags' flags (parsed, in `values`) ask for."""
    return Scale(dataset=values.dataset, rounds=values.rounds, k=values.k,
                 round0_k=values.round0_k or None, epochs=values.epochs,
                 filters=values.filters, train_examples=values.train_examples or None,
                 controller_epochs=values.controller_epochs, final_epochs=values.final_epochs,
                 run_eagerly=values.run_eagerly, workers=values.workers,
                 recipe=values.recipe, batch_size=values.batch_size or None)


def run_entry(run):
    """What the figures' JSON records of each search besides its numbers."""
    return {"lambda": run.lambda_, "out_dir": run.out_dir, "scale": run.describe(),
            "note": run.rounds_note()}


def accuracy_source(runs):
    """What the final networks' accuracies of `runs` are (readers.Run.accuracy_kind): one
    phrase when all agree, else one per lambda."""
    kinds = sorted({run.accuracy_kind for run in runs})
    if len(kinds) == 1:
        return kinds[0]
    return "the accuracy of each search (" + "; ".join(
        f"lambda {run.lambda_}: {run.accuracy_kind}" for run in runs) + ")"


def describe_runs(by_lambda, source):
    """Lines saying where each search came from and how it was scaled down."""
    lines = [f"ours: {source}"]
    for lam, run in by_lambda.items():
        note = run.rounds_note()
        lines.append(f"  lambda {lam}: {run.out_dir}: {run.describe()}"
                     + (f"; {note}" if note else ""))
    return lines
