"""The Pareto front of a search (beyond the paper): accuracy against total memory p + r.

Every candidate the search trained is a point: its validation accuracy in the search and its
p + r (param_bytes + activation_bytes, as the search measures them: its bytes per value and
lifetime schedule). A candidate whose accuracy was reused from an earlier round (records.
Candidate.reused_from) was not trained again and would repeat that round's point, so it is left
out. The final network, where it was trained from scratch and tested (records.Final), is one
more point, with its *test* accuracy; every point says which accuracy it has.

A point is on the front when no other point is at least as accurate and at most as large, and
strictly better in one of the two (accuracy is maximized, p + r minimized). So of two points
with the same accuracy only the smaller is on the front, of two with the same p + r only the
more accurate, and equal points (the same network trained twice to the same accuracy, or two
networks that tie) are on it together or off it together.

search.py writes ``pareto.json`` and ``pareto.png`` into its out_dir after every round and
after the final training (``write``); reproduce/figure5_lambda.py overlays the fronts of its
searches (``draw``). numpy only; matplotlib is imported when a figure is drawn, without pyplot,
so a search that imports this file loads neither.
"""

import dataclasses

import numpy as np

import guard

VALIDATION = "validation"  # in the search: the split held out of the training data
TEST = "test"  # the final network after its final training, on the test split
UNITS = {"KiB": 2 ** 10, "MiB": 2 ** 20}


@dataclasses.dataclass(frozen=True)
class Point:
    """A trained network: round None for the final network (accuracy_kind "test")."""
    round: int | None
    key: str
    accuracy: float
    accuracy_kind: str
    param_bytes: int
    activation_bytes: int
    on_front: bool = False

    @property
    def total_bytes(self):
        return self.param_bytes + self.activation_bytes


def front(points):
    """Which of `points`, (accuracy, memory) pairs, are on the Pareto front, as a bool array
    in their order: point i is off it when some point j has accuracy_j >= accuracy_i and
    memory_j <= memory_i with one of the two strict (see the module's docstring for ties).
    Compares every pair: n^2 booleans, 1 MB for the 1,000 candidates of a paper-scale search."""
    values = np.asarray(points, dtype=float).reshape(-1, 2)
    accuracy, memory = values[:, :1], values[:, 1:]  # columns: [j, i] compares j with i
    no_worse = (accuracy >= accuracy.T) & (memory <= memory.T)
    better = (accuracy > accuracy.T) | (memory < memory.T)
    return ~np.any(no_worse & better, axis=0)


def hypervolume(points, reference):
    """The area the (accuracy, memory) `points` dominate up to `reference` (accuracy, memory):

        HV = area of { (m, a) : some point i has m_i <= m <= m_ref and a_ref <= a <= a_i }

    (accuracy maximized, memory minimized; points no better than the reference in either add
    nothing). Sorted by memory, it is the sum over each memory step of its width times the best
    accuracy so far above a_ref: O(n log n), for all 15,625 NAS-Bench-201 cells at once."""
    values = np.asarray(points, dtype=float).reshape(-1, 2)
    accuracy_ref, memory_ref = reference
    values = values[(values[:, 0] > accuracy_ref) & (values[:, 1] < memory_ref)]
    if not len(values):
        return 0.0
    values = values[np.argsort(values[:, 1], kind="stable")]
    best = np.maximum.accumulate(values[:, 0])  # the best accuracy within each memory
    widths = np.diff(np.append(values[:, 1], memory_ref))
    return float(np.sum(widths * (best - accuracy_ref)))


def points(candidates, final=None):
    """The points of a search, front marked: each trained candidate (records.Candidate with
    status "ok", not reused) in (round, key) order, then the final network (a records.Final;
    left out unless "ok")."""
    found = [Point(c.round, c.key, c.val_accuracy, VALIDATION, c.param_bytes, c.activation_bytes)
             for c in sorted(candidates, key=lambda c: (c.round, c.key))
             if c.ok and c.reused_from is None]
    if final is not None and final.ok:
        found.append(Point(None, final.key, final.test_accuracy, TEST, final.param_bytes,
                           final.activation_bytes))
    marks = front([(p.accuracy, p.total_bytes) for p in found])
    return [dataclasses.replace(p, on_front=bool(mark)) for p, mark in zip(found, marks)]


def of_run(run):
    """The points of a search as read back (readers.Run): its final network with its test
    accuracy where it was tested."""
    return points(run.candidates, run.tested)


def to_json(found, config):
    """pareto.json: the points (their order: `points`') and what they mean; config: the
    search's SearchConfig (how memory was measured)."""
    return {
        "memory": (f"p + r = param_bytes + activation_bytes, as the search measures them "
                   f"({config.bytes_per_value} bytes per value, {config.schedule} schedule)"),
        "accuracy_kind": {VALIDATION: "validation accuracy in the search (a split held out of "
                                      "the training data)",
                          TEST: "test accuracy of the final network after its final training "
                                "from scratch on training + validation data (round null)"},
        "on_front": ("no other point has accuracy >= and p + r <= this one's with one of the "
                     "two strictly better; equal points are on the front together or not"),
        "points": [{**dataclasses.asdict(p), "total_bytes": p.total_bytes} for p in found]}


def draw(ax, found, color, label, unit="MiB", others=True):
    """Onto a matplotlib Axes: the front of `found` as a step line (p + r in `unit`, KiB or
    MiB), its points marked, a test-accuracy point as a star; with `others` the points off
    the front, faint."""
    on = sorted((p for p in found if p.on_front), key=lambda p: (p.total_bytes, p.accuracy))

    def xy(some):
        some = list(some)
        return [p.total_bytes / UNITS[unit] for p in some], [p.accuracy for p in some]

    if others:
        ax.scatter(*xy(p for p in found if not p.on_front), s=14, color=color, alpha=0.4,
                   linewidths=0)
    if on:
        ax.plot(*xy(on), "o", drawstyle="steps-post", ls="-", color=color, ms=5, label=label)
        ax.scatter(*xy(p for p in on if p.accuracy_kind == TEST), marker="*", s=140,
                   color=color, edgecolors="black", zorder=3)


def log_x(ax):
    """A log-scale x axis labelled with plain numbers at 1, 2 and 5 times the powers of 10
    (0.2, not 2 x 10^-1: mathtext labels overlap, and take longer to draw than the rest of
    the figure)."""
    from matplotlib import ticker

    ax.set_xscale("log")
    plain = ticker.FuncFormatter(lambda x, _: f"{x:g}" if f"{x:.0e}"[0] in "125" else "")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)


def plot(found, path, title):
    """pareto.png at `path` (replaced atomically): every point, the front marked."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, no figure kept

    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.subplots()
    totals = [p.total_bytes for p in found] or [1]
    unit = "MiB" if max(totals) >= UNITS["MiB"] else "KiB"
    draw(ax, found, "tab:red", f"front ({sum(p.on_front for p in found)} of {len(found)} "
                               f"points)", unit)
    if not all(p.on_front for p in found):
        ax.plot([], [], "o", color="tab:red", alpha=0.4, ms=4, label="off the front")
    tested = any(p.accuracy_kind == TEST for p in found)
    if tested:
        ax.scatter([], [], marker="*", s=100, color="tab:red", edgecolors="black",
                   label="final network: test accuracy")
    scale = "log" if max(totals) > 10 * min(totals) else "linear"
    if scale == "log":
        log_x(ax)
    ax.set(xlabel=f"p + r ({unit}" + (", log scale)" if scale == "log" else ")"),
           ylabel="accuracy (validation" + ("; star: test)" if tested else ")"), title=title)
    ax.grid(alpha=0.3)
    if found:
        ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.11, top=0.92)  # tight_layout: 2x time
    guard.replace_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def write(out, candidates, final, config, png=True):
    """pareto.json and (with `png`) pareto.png of a search into its records.OutDir `out`, from
    its Candidates so far and its Final (or None); the points."""
    found = points(candidates, final)
    out.write_pareto(to_json(found, config))
    if png:
        plot(found, out.pareto_png, f"MemNAS search, lambda {config.lambda_:g}: accuracy "
                                    f"against p + r")
    return found
