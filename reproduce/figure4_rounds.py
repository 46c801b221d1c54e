"""Figure 4 of the paper (Section 4.4): accuracy and memory over the search rounds, for a
search that optimizes accuracy only (lambda = 1) and one that trades it against memory
(lambda = 0.5).

The paper's claim: the lambda = 0.5 search reaches the accuracy of the lambda = 1 search
(94.02 %) with 96.7 % less parameter memory and 28.2 % less intermediate memory. Here each
round's point is the network the search keeps after that round (its base for the next round;
when no candidate improves y the base is kept and the search stops, so a run may have fewer
rounds than asked). Accuracy is the search's validation accuracy after its short training, not
a test accuracy after full training; memory is p (parameters) and r (peak intermediate data,
paper lifetime schedule) of lifetime.py, float32, in MiB. The claim is checked on the two final
networks: our accuracy of each and our p and r savings of lambda 0.5 against lambda 1.

Sources: search.py out_dirs (``--runs=DIR,...``, folders of them work, one run per lambda), or,
without ``--runs``, the scaled-down searches of ``sweep.Scale`` run (or resumed: nothing is
trained twice) into ``--searches`` (default runs/reproduce/searches, shared with Figure 5 and
Table 1). Their default data set is tensorflow-datasets' cifar10, 2,000 training images per
candidate; ``--dataset=npz:PATH`` runs offline. At that scale accuracies stay near chance, so
the memory side of the trade-off is what shows. ``--smoke`` runs synthetic searches instead
(``sweep.synthetic_search``): the real grow/trim candidates with exact p and r, but accuracy a
stand-in function of the parameter count and no training.

    python reproduce/figure4_rounds.py  # scaled-down searches, then the figure
    python reproduce/figure4_rounds.py --runs=runs/lambda1,runs/lambda05
    python reproduce/figure4_rounds.py --smoke  # seconds: synthetic searches, no training
"""

import dataclasses
import os
import textwrap

from absl import app
from absl import flags

import guard

from reproduce import paper
from reproduce import report
from reproduce import sweep

LAMBDAS = (1.0, 0.5)  # accuracy only, and the paper's balanced trade-off
COLORS = {1.0: "tab:blue", 0.5: "tab:orange"}  # the paper's


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    sweep.define_sweep_flags("figure4_rounds", "a lambda = 1 and a lambda = 0.5 search")


def round_rows(run):
    """One row per finished round: the network kept after it (MiB, validation accuracy)."""
    return [{"round": rec.round, "val_accuracy": rec.best.accuracy,
             "param_mib": rec.best.param_bytes / report.MB,
             "activation_mib": rec.best.activation_bytes / report.MB,
             "best_y": rec.best_y, "improved": rec.improved}
            for rec in run.rounds]


def savings(final_1, final_05):
    """Our side of the paper's claim: lambda 0.5's final network (efficiency.Stats) against
    lambda 1's."""
    def saved(field):
        return 100 * (getattr(final_1, field) - getattr(final_05, field)) / getattr(final_1, field)
    return {"accuracy_lambda_1": 100 * final_1.accuracy,
            "accuracy_lambda_0.5": 100 * final_05.accuracy,
            "param_saving_pct": saved("param_bytes"),
            "activation_saving_pct": saved("activation_bytes")}


def format_rounds(rows_by_lambda):
    header = ["lambda", "round", "val acc %", "p MiB", "r MiB", "p + r MiB", "best y", "kept"]
    rows = [[lam, row["round"], 100 * row["val_accuracy"], row["param_mib"],
             row["activation_mib"], row["param_mib"] + row["activation_mib"], row["best_y"],
             "new" if row["improved"] else "base kept"]
            for lam, rows_ in rows_by_lambda.items() for row in rows_]
    return report.table(header, rows, digits=3)


def format_claim(ours):
    rows = [["accuracy, lambda = 1 (%)", paper.FIGURE4_ACCURACY, ours["accuracy_lambda_1"]],
            ["accuracy, lambda = 0.5 (%)", paper.FIGURE4_ACCURACY, ours["accuracy_lambda_0.5"]],
            ["parameter memory saved by lambda 0.5 (%)", paper.FIGURE4_PARAM_SAVING,
             ours["param_saving_pct"]],
            ["intermediate memory saved by lambda 0.5 (%)", paper.FIGURE4_ACTIVATION_SAVING,
             ours["activation_saving_pct"]]]
    return report.table(["final networks", "paper", "ours"], rows)


def plot(rows_by_lambda, path, title):
    """Figure 4's layout: accuracy against round, memory against round, a colour per lambda."""
    plt = report.pyplot()
    fig, (acc_ax, mem_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for lam, rows in rows_by_lambda.items():
        color = COLORS.get(lam)
        rounds = [row["round"] for row in rows]
        acc_ax.plot(rounds, [100 * row["val_accuracy"] for row in rows], "o-", color=color,
                    label=f"lambda = {lam}")
        mem_ax.plot(rounds, [row["param_mib"] for row in rows], "o-", color=color,
                    label=f"lambda = {lam}: parameters p")
        mem_ax.plot(rounds, [row["activation_mib"] for row in rows], "s--", color=color,
                    label=f"lambda = {lam}: intermediate r")
    acc_ax.set(xlabel="search round", ylabel="validation accuracy (%)", title="accuracy")
    mem_ax.set(xlabel="search round", ylabel="memory (MiB)", title="memory")
    for ax in (acc_ax, mem_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(textwrap.fill(title, 150), fontsize=8)
    report.save_figure(fig, path)


def run(out_dir, runs=None, searches=sweep.SEARCHES, scale=sweep.Scale(), smoke=False,
        log=print):
    """Figure 4 into out_dir (PNG and JSON) from `runs` (out_dirs) or scaled-down searches;
    prints the tables with `log` and returns what the JSON holds."""
    if smoke:
        searches = os.path.join(out_dir, "smoke_searches")
    by_lambda, source = sweep.sweep(runs, LAMBDAS, searches, scale, smoke, log)
    missing = [lam for lam in LAMBDAS if lam not in by_lambda]
    if missing:
        raise ValueError(f"--runs: no search with lambda {missing[0]} (found lambdas "
                         f"{', '.join(str(lam) for lam in by_lambda) or 'none'})")
    by_lambda = {lam: by_lambda[lam] for lam in LAMBDAS}
    rows = {lam: round_rows(run_) for lam, run_ in by_lambda.items()}
    for lam, run_ in by_lambda.items():
        if not rows[lam]:
            raise ValueError(f"{run_.out_dir}: no finished round yet")
    finals = {lam: run_.final()[1] for lam, run_ in by_lambda.items()}
    ours = savings(finals[1.0], finals[0.5])
    for line in sweep.describe_runs(by_lambda, source):
        log(line)
    log("\nPer round: the network each search keeps (validation accuracy; p, r float32)")
    log(format_rounds(rows))
    log("\nThe paper's claim (Section 4.4) and ours; paper: test accuracy after 60 epochs, "
        f"ours: {sweep.accuracy_source(by_lambda.values())}")
    log(format_claim(ours))
    png = os.path.join(out_dir, "figure4_rounds.png")
    plot(rows, png, f"Figure 4 (ours): {source}")
    data = {"paper": {"accuracy_pct": paper.FIGURE4_ACCURACY,
                      "param_saving_pct": paper.FIGURE4_PARAM_SAVING,
                      "activation_saving_pct": paper.FIGURE4_ACTIVATION_SAVING},
            "ours": ours, "source": source, "synthetic": bool(smoke and not runs),
            "runs": [{**sweep.run_entry(run_), "rounds": rows[lam],
                      "final": dataclasses.asdict(finals[lam])}
                     for lam, run_ in by_lambda.items()]}
    report.write_results(out_dir, "figure4_rounds", data, log)
    return data


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("figure4_rounds.py"):
        run(FLAGS.out_dir, FLAGS.runs, FLAGS.searches, sweep.scale_from_flags(FLAGS),
            FLAGS.smoke, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    define_flags()
    app.run(main)
