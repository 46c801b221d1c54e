"""Benchmark: does the search find an accurate, small network, and does it beat simple baselines
at equal cost?

Arms, each a search.py run with the same rounds, k, epochs per candidate and seed, and the same
round 0 (all 28 one-cell networks by default, trained once per seed and shared):

    memnas+inherit   the SCC's ranking; candidates start from their base's trained weights
    random+inherit   the round's k drawn at random from its grow/trim candidates
    memory+inherit   ranked by the memory terms of Eq. 4 only (no controller)
    memnas           the SCC's ranking; every candidate trained from scratch (the paper)

Every arm's final network is then trained the same way (search.py's final training: from
scratch, --final_epochs on training + validation data) and tested on the test split; so is one
reference, the best network of round 0 as the memnas arms rank and train it. y is Eq. 4 of a
final network's test accuracy and memory against that reference's.

Ranking quality per cost: round 1's candidates of the memnas+inherit search (a seeded sample of
--tau_candidates) are trained three ways: inherited from the round's base and fine-tuned for
--epochs, from scratch for --epochs (the same cost), and from scratch for --tau_epochs (the
reference ranking). It prints the Kendall tau of each short way against the long one, and the
seconds of each.

Everything goes to --out_dir and resumes after a kill (search.py's out_dirs; the extra
trainings are records.Candidate lines). One table row per arm and seed, the JSON beside it, and
a Pareto plot (accuracy against p + r) of every network trained.

    python bench/search_quality.py --dataset=npz:../shared/data/cifar10_subset.npz
"""
import dataclasses
import os
import statistics

from absl import app
from absl import flags
import numpy as np

import arch_json
import evaluation
import final
import guard
import inputs
import ranking
import readers
import recipes
import records
import rounds
import search
import search_config
import train
from efficiency import memory_efficiency
from reproduce import report

ARMS = ("memnas+inherit", "random+inherit", "memory+inherit", "memnas")

flags.DEFINE_string("dataset", "cifar10", inputs.DATASET_HELP)
flags.DEFINE_integer("train_examples", None, "Training images (after the validation split); "
                     "default: all.")
flags.DEFINE_float("lambda_", 0.5, "Trade-off of Eq. 4.")
flags.DEFINE_integer("filters", 16, "Filters of the first block (w).")
flags.DEFINE_integer("rounds", 3, "Search rounds per arm, round 0 included.")
flags.DEFINE_integer("k", 3, "Candidates trained per round after round 0.")
flags.DEFINE_integer("round0_k", 28, "Candidates trained in round 0 (28: all, as the paper's "
                     "k = 100 does). Round 0 is the same in every arm, so it is "
                     "trained once per seed and shared.")
flags.DEFINE_enum("recipe", "short", list(recipes.RECIPES), "Training recipe of candidates and "
                  "final networks (recipes.RECIPES).")
flags.DEFINE_integer("epochs", 2, "Epochs per candidate (with inherit: fine-tuning epochs).")
flags.DEFINE_integer("batch_size", 64, "Batch size of candidates and final networks, the "
                     "recipe's learning rate scaled with it (0: the recipe's own). 2 epochs at "
                     "batch 64 rank networks as 20 epochs do (bench/proxy_fidelity.py).")
flags.DEFINE_integer("final_epochs", 20, "Epochs of the final training of every final network "
                     "and the reference.")
flags.DEFINE_integer("controller_epochs", 30, "SCC training epochs per round.")
flags.DEFINE_list("arms", list(ARMS), f"Arms to run: {', '.join(ARMS)}.")
flags.DEFINE_list("seeds", ["0"], "One full benchmark per seed.")
flags.DEFINE_integer("tau_candidates", 4, "Round-1 candidates trained three ways for the "
                     "Kendall tau; 0: skip that part.")
flags.DEFINE_integer("tau_epochs", 3, "Epochs of the from-scratch training the tau ranks "
                     "against.")
flags.DEFINE_string("out_dir", "runs/bench/search_quality", "Where everything goes.")

NAME = "search_quality"


def parse_arm(arm):
    """'memnas+inherit' -> ('memnas', True); ValueError naming --arms for anything else."""
    if arm not in ARMS:
        raise ValueError(f"--arms: unknown arm {arm!r}; expected some of {', '.join(ARMS)}")
    strategy, _, inherit = arm.partition("+")
    return strategy, bool(inherit)


def run_arm(out_dir, arm, data, settings, seed, log):
    """One arm's search, run or resumed, with its final training; its readers.Run."""
    strategy, inherit = parse_arm(arm)
    config = search_config.SearchConfig(
        lambda_=settings.lambda_, rounds=settings.rounds, k=settings.k, strategy=strategy,
        controller_epochs=settings.controller_epochs, seed=seed, inherit=inherit,
        final_epochs=settings.final_epochs, round0_k=settings.round0_k)
    evaluator = evaluation.SharedRound0(os.path.join(os.path.dirname(out_dir), "round0"), data,
                                        train_config(settings, seed), inherit, search.MAY_CHANGE)
    search.run(out_dir, data, config, train_config(settings, seed), evaluator=evaluator,
               log=lambda line: log(f"[{arm}, seed {seed}] {line}"))
    return readers.load_run(out_dir)


def train_config(settings, seed, epochs=None):
    return recipes.TrainConfig.of_recipe(
        settings.recipe, epochs=settings.epochs if epochs is None else epochs,
        filters=settings.filters, seed=seed, verbose=0,
        **recipes.batch_fields(settings.recipe, settings.batch_size or None))


def test_reference(out_dir, run, data, settings, seed, log):
    """The round-0 best of `run`, trained and tested as the final networks are (search.py's
    final.train_final into OUT_DIR/final/); (architecture, Stats with its test accuracy)."""
    first = run.rounds[0]
    config = dataclasses.replace(run.config.search, final_epochs=settings.final_epochs)
    trained = final.train_final(records.OutDir(out_dir), data, first.best_arch, first.best,
                                config, train_config(settings, seed), log)
    return first.best_arch, trained.stats


def ranking_quality(out_dir, run, data, settings, seed, log):
    """Round 1 of an inherit search: a seeded sample of its candidates trained three ways
    (inherited + --epochs, scratch + --epochs, scratch + --tau_epochs); each way's records,
    kept in OUT_DIR/<way>/candidates.jsonl so that a killed benchmark resumes."""
    base_model = records.OutDir(run.out_dir).base_model_path(1)
    if base_model is None:
        raise ValueError(f"{run.out_dir}: no base_round01.keras; the tau needs an --inherit "
                         f"search that finished round 0")
    parent = train.load_model(base_model)
    generation = rounds.generate(1, run.rounds[0].best_arch)
    candidates = rounds.measure(generation.candidates, settings.filters, run.config.search, data)
    rng = np.random.default_rng(seed)
    picked = [candidates[i] for i in sorted(rng.permutation(len(candidates))
                                            [:settings.tau_candidates])]
    ways = {"inherited": (settings.epochs, True), "scratch": (settings.epochs, False),
            "scratch_long": (settings.tau_epochs, False)}
    found = {}
    for way, (epochs, inherit) in ways.items():
        out = records.OutDir(os.path.join(out_dir, way))
        done = {c.key: c for c in out.candidates()}
        for candidate in picked:
            if candidate.key not in done:
                config = train_config(settings, evaluation.candidate_seed(seed, candidate.key),
                                      epochs)
                start = train.Inheriting(*parent, candidate.arch, config, data) \
                    if inherit else None
                result = train.train(candidate.arch, data, config, start=start)
                done[candidate.key] = record = records.Candidate(
                    round=1, key=candidate.key, arch=candidate.arch,
                    val_accuracy=result.val_accuracy, param_bytes=candidate.memory.param_bytes,
                    activation_bytes=candidate.memory.activation_bytes, y=None,
                    seconds=round(result.seconds, 3), status=result.status)
                out.append_candidate(record)
                log(f"[tau, seed {seed}] {way} {len(done)}/{len(picked)}: val acc "
                    f"{_pct(record.val_accuracy)}  ({record.seconds:.0f} s)")
        found[way] = [done[c.key] for c in picked]
    return found


def kendall(a, b):
    """ranking.kendall_tau of two lists of accuracies, leaving out candidates whose training failed
    in either (None); None if fewer than two are left."""
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    if len(pairs) < 2:
        return None
    return ranking.kendall_tau(*zip(*pairs))


def _pct(value):
    return "—" if value is None else f"{100 * value:.1f}%"


def arm_row(arm, run, reference, lambda_):
    """The table row (a dict) of one arm: its final network against the reference."""
    summary, final = run.summary, run.summary.final
    tested = final.stats
    y = memory_efficiency(tested, reference, lambda_) \
        if tested.accuracy is not None and reference.accuracy is not None else None
    train_seconds = sum(c.seconds for c in run.candidates)
    return {"arm": arm, "trained": summary.trained, "rounds": summary.rounds,
            "train_s": round(train_seconds), "final_key": final.key,
            "test_accuracy": tested.accuracy, "val_accuracy": summary.best.accuracy,
            "param_mib": tested.param_bytes / report.MB,
            "activation_mib": tested.activation_bytes / report.MB, "y_vs_round0": y,
            "final_s": round(final.seconds)}


def pareto_plot(path, points, title):
    """Accuracy (%) against p + r (MiB), log scale: every candidate (validation accuracy, dots)
    and every tested network (test accuracy, large markers), a colour per arm."""
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = dict(zip(ARMS + ("round-0 best",), plt.rcParams["axes.prop_cycle"].by_key()
                      ["color"]))
    for n, ((arm, kind), xy) in enumerate(sorted(points.items())):
        if not xy:
            continue
        x, y = zip(*xy)
        tested = kind == "tested"
        # Arms often end on the same network: stars shrink in drawing order, all stay visible.
        ax.scatter(x, y, s=max(300 - 30 * n, 40) if tested else 14,
                   marker="*" if tested else "o",
                   color=colors.get(arm, "black"), alpha=1.0 if tested else 0.45,
                   edgecolors="black" if tested else "none",
                   label=f"{arm}: {'final, test acc' if tested else 'candidates, val acc'}")
    ax.set(xscale="log", xlabel="p + r, MiB (float32)", ylabel="accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    report.save_figure(fig, path)


def main(argv):
    del argv
    settings = flags.FLAGS
    with guard.one_line_errors("search_quality.py"):
        arms = [arm for arm in settings.arms if parse_arm(arm)]
        try:
            seeds = [int(s) for s in settings.seeds]
        except ValueError:
            raise ValueError(f"--seeds: not integers: {','.join(settings.seeds)}") from None
        if settings.batch_size < 0:
            raise ValueError(f"--batch_size must be at least 0, got {settings.batch_size}")
        for name in ("rounds", "k", "round0_k", "epochs", "final_epochs", "filters"):
            if getattr(settings, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(settings, name)}")
        records.OutDir(settings.out_dir)
        results, points = {"settings": {name: getattr(settings, name) for name in (
            "dataset", "train_examples", "lambda_", "filters", "rounds", "k", "round0_k",
            "recipe", "epochs", "batch_size", "final_epochs", "controller_epochs",
            "tau_candidates",
            "tau_epochs")}, "seeds": {}}, {}
        for seed in seeds:
            data = inputs.load_data(settings.dataset, None, 0.1, settings.train_examples, seed)
            root = os.path.join(settings.out_dir, f"seed{seed}")
            runs = {arm: run_arm(os.path.join(root, arm.replace("+", "_")), arm, data,
                                 settings, seed, print) for arm in arms}
            first = runs.get("memnas+inherit") or runs.get("memnas") or runs[arms[0]]
            ref_arch, reference = test_reference(os.path.join(root, "round0_best"), first,
                                                 data, settings, seed, print)
            rows = [arm_row(arm, run, reference, settings.lambda_) for arm, run in runs.items()]
            entry = {"reference": {"key": arch_json.key(ref_arch), "from": first.out_dir,
                                   "test_accuracy": reference.accuracy,
                                   "param_mib": reference.param_bytes / report.MB,
                                   "activation_mib": reference.activation_bytes / report.MB},
                     "arms": rows}
            for arm, run in runs.items():
                points.setdefault((arm, "candidates"), []).extend(
                    ((c.param_bytes + c.activation_bytes) / report.MB, 100 * c.val_accuracy)
                    for c in run.candidates if c.ok)
                if run.summary.final.ok:
                    f = run.summary.final
                    points.setdefault((arm, "tested"), []).append(
                        ((f.param_bytes + f.activation_bytes) / report.MB,
                         100 * f.test_accuracy))
            if reference.accuracy is not None:
                points.setdefault(("round-0 best", "tested"), []).append(
                    ((reference.param_bytes + reference.activation_bytes) / report.MB,
                     100 * reference.accuracy))
            inherit_run = runs.get("memnas+inherit")
            if settings.tau_candidates and inherit_run is not None and \
                    len(inherit_run.rounds) > 1:
                ways = ranking_quality(os.path.join(root, "tau"), inherit_run, data, settings,
                                       seed, print)
                acc = {way: [c.val_accuracy for c in found] for way, found in ways.items()}
                sec = {way: statistics.median(c.seconds for c in found)
                       for way, found in ways.items()}
                entry["tau"] = {
                    "candidates": len(ways["inherited"]),
                    "tau_inherited_vs_long": kendall(acc["inherited"], acc["scratch_long"]),
                    "tau_scratch_vs_long": kendall(acc["scratch"], acc["scratch_long"]),
                    "median_s": sec, "accuracy": acc}
            results["seeds"][seed] = entry
            print_seed(seed, entry, settings)
        path = os.path.join(settings.out_dir, f"{NAME}.png")
        pareto_plot(path, points, f"{settings.dataset}, w {settings.filters}, lambda "
                    f"{settings.lambda_}: every network trained")
        if len(seeds) > 1:
            print_spread(results["seeds"])
        report.write_results(settings.out_dir, NAME, results)


def print_seed(seed, entry, settings):
    ref = entry["reference"]
    print(f"\nseed {seed}: final networks trained {settings.final_epochs} epochs from scratch "
          f"on training + validation data, tested; y against the round-0 best "
          f"(test acc {_pct(ref['test_accuracy'])}, p {ref['param_mib']:.3f} MiB, "
          f"r {ref['activation_mib']:.3f} MiB)")
    header = ["arm", "trained", "rounds", "train s", "val acc %", "test acc %", "p MiB",
              "r MiB", "y vs round 0", "final s"]
    rows = [[r["arm"], r["trained"], r["rounds"], r["train_s"],
             None if r["val_accuracy"] is None else 100 * r["val_accuracy"],
             None if r["test_accuracy"] is None else 100 * r["test_accuracy"],
             r["param_mib"], r["activation_mib"], r["y_vs_round0"], r["final_s"]]
            for r in entry["arms"]]
    print(report.table(header, rows, digits=3))
    tau = entry.get("tau")
    if tau:
        s = tau["median_s"]
        print(f"ranking of {tau['candidates']} round-1 candidates against {settings.tau_epochs} "
              f"epochs from scratch (Kendall tau): inherited + {settings.epochs} epochs "
              f"{report.fmt(tau['tau_inherited_vs_long'])}, scratch {settings.epochs} epochs "
              f"{report.fmt(tau['tau_scratch_vs_long'])}; median s per candidate: inherited "
              f"{s['inherited']:.0f}, scratch {s['scratch']:.0f}, scratch "
              f"{settings.tau_epochs} epochs {s['scratch_long']:.0f} (inherited / long "
              f"{s['inherited'] / s['scratch_long']:.2f})")


def print_spread(by_seed):
    """Per arm, over seeds: mean and range of the test accuracy and of y."""
    print("\nover seeds " + ", ".join(map(str, by_seed)) + ": mean [min, max]")
    arms = {}
    for entry in by_seed.values():
        for row in entry["arms"]:
            arms.setdefault(row["arm"], []).append(row)
    header = ["arm", "test acc %", "y vs round 0"]
    rows = []
    for arm, found in arms.items():
        cells_ = []
        for name, scale in (("test_accuracy", 100), ("y_vs_round0", 1)):
            values = [scale * r[name] for r in found if r[name] is not None]
            cells_.append(f"{np.mean(values):.3f} [{min(values):.3f}, {max(values):.3f}]"
                          if values else "—")
        rows.append([arm, *cells_])
    print(report.table(header, rows))


if __name__ == "__main__":
    app.run(main)
