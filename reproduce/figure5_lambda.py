"""Figure 5 of the paper (Section 4.4): sweeping lambda of Eq. 4 over 0, 0.2, 0.5, 0.8, 1 trades
error rate against memory.

The paper (text of Section 4.4): as lambda goes from 0 to 1 the error rate falls from 9.5 % to
4 % while the total memory grows from 0.5 MB to over 2.5 MB; it gives no other point of the
figure, so only these endpoints are printed beside ours. Ours, per search: the error rate is
1 - the test accuracy of its final network after search.py's final training (--final_epochs),
or, for a search without one, 1 - its validation accuracy in the search (after the search's
short training); the output says which. The total memory is p + r of that network (parameters plus
peak intermediate data, paper lifetime schedule, float32, MiB).

Beyond the paper's figure, ``figure5_fronts.png`` overlays the Pareto fronts of the searches
(pareto.py), one colour per lambda: every candidate a search trained is a point of validation
accuracy against p + r, its final network one more with its test accuracy where it was tested,
and the front is the points no other point of that search beats in both.

Sources: search.py out_dirs (``--runs=DIR,...``, folders of them work, one run per lambda; every
lambda found is plotted), or, without ``--runs``, the scaled-down searches of ``sweep.Scale`` run
(or resumed: nothing is trained twice) into ``--searches`` (default runs/reproduce/searches,
shared with Figure 4 and Table 1). Their default data set is tensorflow-datasets' cifar10, 2,000
training images per candidate; ``--dataset=npz:PATH`` runs offline. ``--smoke`` runs synthetic
searches instead (``sweep.synthetic_search``: exact memory, stand-in accuracy, no training).

    python reproduce/figure5_lambda.py  # scaled-down searches, then the figure
    python reproduce/figure5_lambda.py --runs=runs/reproduce/searches
    python reproduce/figure5_lambda.py --smoke  # seconds: synthetic searches, no training
"""

import os
import textwrap

from absl import app
from absl import flags

import guard
import pareto
from reproduce import paper
from reproduce import report
from reproduce import sweep


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    sweep.define_sweep_flags("figure5_lambda", "one search per lambda")
    flags.DEFINE_list("lambdas", [str(lam) for lam in paper.FIGURE5_LAMBDAS],
                      "Lambdas of the scaled-down searches (ignored with --runs).")


def point(run):
    """A search's point of Figure 5: its final network's error rate and memory."""
    _, final = run.final()
    return {"lambda": run.lambda_, "accuracy": final.accuracy,
            "accuracy_kind": run.accuracy_kind,
            "error_pct": 100 * (1 - final.accuracy), "param_mib": final.param_bytes / report.MB,
            "activation_mib": final.activation_bytes / report.MB,
            "total_mib": (final.param_bytes + final.activation_bytes) / report.MB}


def format_points(points):
    header = ["lambda", "paper error %", "ours error %", "paper total MB", "ours p + r MiB",
              "ours p MiB", "ours r MiB"]
    rows = []
    for p in points:
        paper_error, paper_total = paper.FIGURE5_ENDPOINTS.get(p["lambda"], (None, None))
        if p["lambda"] == 1.0:
            paper_total = f"> {paper_total}"
        rows.append([p["lambda"], paper_error, p["error_pct"], paper_total, p["total_mib"],
                     p["param_mib"], p["activation_mib"]])
    return report.table(header, rows, digits=3)


def plot(points, path, title, accuracy):
    """Error rate against total memory, a point per lambda, the paper's endpoints beside."""
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot([p["total_mib"] for p in points], [p["error_pct"] for p in points], "o-",
            color="tab:orange",
            label="ours (error: 1 - test accuracy)" if accuracy.startswith("test") else
            "ours (error: 1 - validation accuracy of the search)")
    # Searches that end on the same network share a point and one label.
    labels = {}
    for p in points:
        labels.setdefault((p["total_mib"], p["error_pct"]), []).append(f"{p['lambda']:g}")
    for i, (xy, lambdas) in enumerate(labels.items()):  # above, below, ...: neighbours apart
        ax.annotate(f"λ={', '.join(lambdas)}", xy, textcoords="offset points",
                    xytext=(4, 6 if i % 2 == 0 else -13), fontsize=8)
    endpoints = sorted(paper.FIGURE5_ENDPOINTS.items())
    ax.plot([total for _, (_, total) in endpoints], [error for _, (error, _) in endpoints], "s--",
            color="tab:blue", mfc="none", label="paper (endpoints in the text; λ=1: over 2.5 MB)")
    for lam, (error, total) in endpoints:
        ax.annotate(f"λ={lam:g}", (total, error), textcoords="offset points", xytext=(5, -12),
                    fontsize=8, color="tab:blue")
    # Log scale: a scaled-down search's networks are far smaller than the paper's.
    ax.set_xscale("log")
    ax.set(xlabel="total memory p + r (MiB, log scale; paper: MB)", ylabel="error rate (%)")
    ax.margins(x=0.12, y=0.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(textwrap.fill(title, 100), fontsize=7)
    report.save_figure(fig, path)


def plot_fronts(fronts, path, title):
    """The Pareto front of each search (pareto.Point lists by lambda), one colour per lambda,
    the points off each front faint."""
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    colours = plt.get_cmap("tab10")
    for n, (lam, found) in enumerate(fronts.items()):
        on = sum(p.on_front for p in found)
        pareto.draw(ax, found, colours(n % 10),
                    f"λ={lam:g}: {on} of {len(found)} points on the front")
    tested = any(p.accuracy_kind == pareto.TEST for found in fronts.values() for p in found)
    if tested:
        ax.scatter([], [], marker="*", s=100, color="0.6", edgecolors="black",
                   label="final network: test accuracy")
    if any(fronts.values()):  # searches read back without candidates may have no point
        pareto.log_x(ax)
        ax.legend(fontsize=8, loc="lower right")
    ax.set(xlabel="total memory p + r (MiB, log scale)",
           ylabel="accuracy (validation in the search" + ("; star: test)" if tested else ")"))
    ax.grid(alpha=0.3)
    ax.set_title(textwrap.fill(title, 100), fontsize=7)
    report.save_figure(fig, path)


def front_entry(found):
    """What the JSON records of a search's front: its points on the front, smallest first."""
    return [{"round": p.round, "accuracy": p.accuracy, "accuracy_kind": p.accuracy_kind,
             "param_mib": p.param_bytes / report.MB,
             "activation_mib": p.activation_bytes / report.MB,
             "total_mib": p.total_bytes / report.MB}
            for p in sorted(found, key=lambda p: (p.total_bytes, p.accuracy)) if p.on_front]


def run(out_dir, runs=None, lambdas=paper.FIGURE5_LAMBDAS, searches=sweep.SEARCHES,
        scale=sweep.Scale(), smoke=False, log=print):
    """Figure 5 into out_dir (PNG and JSON) from `runs` (out_dirs) or scaled-down searches;
    prints the table with `log` and returns what the JSON holds."""
    if smoke:
        searches = os.path.join(out_dir, "smoke_searches")
    for lam in lambdas:
        if not 0 <= lam <= 1:
            raise ValueError(f"--lambdas: {lam} is not in [0, 1]")
    by_lambda, source = sweep.sweep(runs, lambdas, searches, scale, smoke, log)
    points = [point(run_) for run_ in by_lambda.values()]
    for line in sweep.describe_runs(by_lambda, source):
        log(line)
    accuracy = sweep.accuracy_source(by_lambda.values())
    log("\nFinal network of each search: error rate against total memory (paper: its text's "
        f"endpoints, test error after 60 epochs; ours: error = 1 - {accuracy})")
    log(format_points(points))
    png = os.path.join(out_dir, "figure5_lambda.png")
    plot(points, png, f"Figure 5 (ours): {source}", accuracy)
    fronts = {lam: pareto.of_run(run_) for lam, run_ in by_lambda.items()}
    fronts_png = os.path.join(out_dir, "figure5_fronts.png")
    plot_fronts(fronts, fronts_png, f"The Pareto front of each search (ours): {source}")
    log(f"wrote {fronts_png}: the Pareto front of each search")
    data = {"paper": {str(lam): {"error_pct": error, "total_mb": total}
                      for lam, (error, total) in paper.FIGURE5_ENDPOINTS.items()},
            "source": source, "synthetic": bool(smoke and not runs),
            "runs": [{**sweep.run_entry(run_), **p, "trained": len(fronts[lam]),
                      "front": front_entry(fronts[lam])}
                     for (lam, run_), p in zip(by_lambda.items(), points)]}
    report.write_results(out_dir, "figure5_lambda", data, log)
    return data


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    try:
        lambdas = [float(lam) for lam in FLAGS.lambdas]
    except ValueError:
        raise SystemExit(f"figure5_lambda.py: --lambdas: not numbers: "
                         f"{','.join(FLAGS.lambdas)}") from None
    with guard.one_line_errors("figure5_lambda.py"):
        run(FLAGS.out_dir, FLAGS.runs, lambdas, FLAGS.searches, sweep.scale_from_flags(FLAGS),
            FLAGS.smoke, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    define_flags()
    app.run(main)
