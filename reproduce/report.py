"""What the reproduction scripts print and draw: plain-text tables of the paper's numbers beside
ours, JSON results, and matplotlib figures (Agg backend: PNG files, no display)."""

import json
import math
import os

import matplotlib
import numpy as np

MB = 2 ** 20  # the paper's "MB"; its convention (10^6 or 2^20) is not stated, we use MiB


def fmt(value, digits=2):
    """A table cell: numbers rounded, missing values as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header, rows, digits=2):
    """A plain-text table, columns aligned, numbers right-aligned; returns the string."""
    cells_ = [[fmt(v, digits) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells_)) if cells_ else len(str(h))
              for i, h in enumerate(header)]

    def line(values, numeric):
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric))

    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
               for i in range(len(header))]
    out = [line([str(h) for h in header], numeric), line(["-" * w for w in widths], numeric)]
    out += [line(r, numeric) for r in cells_]
    return "\n".join(out)


def write_results(out_dir, name, data, log=print):
    """OUT_DIR/NAME.json beside the figure, OUT_DIR/NAME.png, so that tests and the docs read
    numbers, not stdout; logs where both went."""
    path = os.path.join(out_dir, f"{name}.json")
    os.makedirs(out_dir, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    log(f"wrote {os.path.join(out_dir, name + '.png')} and {path}")


def pyplot():
    """matplotlib.pyplot on the Agg backend: the scripts write PNGs, no display needed."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): pyplot picks its backend on import
    return plt


def save_figure(fig, path):
    """Write `fig` as a PNG (its folder made if needed) and free it."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)


def conventions(bytes_per_value, schedule):
    """The note every memory table prints: the paper never states how it measured baselines."""
    return (f"The paper does not state its memory conventions for the baselines (MB = 10^6 or "
            f"2^20 bytes? float32? BatchNorm folded? which activations counted?). Ours: MiB "
            f"(2^20 bytes = 1.048576 MB), {bytes_per_value} bytes per value, BatchNorm folded "
            f"into the conv before it, intermediate memory = peak of the lifetime analysis "
            f"({schedule} schedule) over the layer outputs of the Keras graph (BatchNorm, "
            f"activations and reshapes fused into the layer before them).")


def memory_notes(rows, bytes_per_value, schedule):
    """The conventions and one line per row whose memory we measured on a built model."""
    return ["notes:", "- " + conventions(bytes_per_value, schedule)] + [
        f"- {row['model']}: {row['ours']['built']}; {row['ours']['params']:,d} parameters "
        f"(BN folded)" for row in rows if row["ours"] and "built" in row["ours"]]


def memory_mib(memory):
    """The numbers of a lifetime.Memory that the tables show, in MiB."""
    return {"params": memory.params, "param_mib": memory.param_bytes / MB,
            "activation_mib": memory.activation_bytes / MB,
            "total_mib": memory.total_bytes / MB}


def paper_vs_ours(rows, paper_keys, ours_keys):
    """Table cells of rows {"model", "paper": dict or None, "ours": dict or None}."""
    return [[row["model"], *((row["paper"] or {}).get(k) for k in paper_keys),
             *((row["ours"] or {}).get(k) for k in ours_keys)] for row in rows]


def bar_chart(out_dir, name, rows, title):
    """OUT_DIR/NAME.png: total memory per row (as paper_vs_ours reads them), the paper's MB
    beside our MiB; indented rows (variants of the row above) are left out. Returns its path."""
    path = os.path.join(out_dir, f"{name}.png")
    plt = pyplot()
    rows = [row for row in rows if not row["model"].startswith(" ") and
            (row["paper"] or row["ours"])]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(rows) + 2), 4.8))
    for offset, key, field, label, colour in (
            (-0.2, "paper", "total_mb", "paper (MB)", "0.65"),
            (0.2, "ours", "total_mib", "ours (MiB)", "tab:blue")):
        have = [i for i, row in enumerate(rows) if row[key]]
        ax.bar(x[have] + offset, [rows[i][key][field] for i in have], 0.4, label=label,
               color=colour)
    ax.set_xticks(x, [row["model"] for row in rows], rotation=50, ha="right", fontsize=8)
    ax.set_ylabel("total memory")
    ax.set_title(title, fontsize=10)
    ax.legend()
    save_figure(fig, path)
    return path


def write_memory_table(out_dir, name, caption, rows, notes, text, settings, chart_rows=None,
                       log=print):
    """A memory table's outputs: OUT_DIR/NAME.png, the bar chart of `chart_rows` (default:
    `rows`), and OUT_DIR/NAME.json with the rows, notes, text table and `settings`
    (bytes_per_value, schedule and smoke among them)."""
    title = (f"{caption}: total memory ({settings['schedule']} schedule, "
             f"{settings['bytes_per_value']} B/value){', SMOKE' if settings['smoke'] else ''}")
    png = bar_chart(out_dir, name, rows if chart_rows is None else chart_rows, title)
    write_results(out_dir, name, {"rows": rows, "notes": notes, "table": text, **settings,
                                  "png": png}, log)
