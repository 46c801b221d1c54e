"""Table 1 of the paper (Section 4.2): CIFAR-10 networks by total memory, parameter memory and
top-1 accuracy.

Memory needs no training: we build the baselines in Keras and measure them with
``lifetime.model_memory`` at 32x32 (parameters with BatchNorm folded, plus the peak of the
lifetime analysis, paper schedule by default):

* ResNet-56 and ResNet-110: He et al. 2016's CIFAR networks (``baselines.resnet_cifar``), option A
  (parameter-free) shortcuts; 0.85 M and 1.7 M parameters, as published.
* MobileNet-V2: width 1.0 with the usual CIFAR strides (``baselines.mobilenet_v2_cifar``: stem and
  second stage stride 1, 4x4 final maps), 10 classes.
* ShuffleNet: ShuffleNet V1 1.0x, g = 3 (the paper cites V1), CIFAR layout
  (``baselines.shufflenet_v1``: stride-1 stem, no max pool), 10 classes.
* CondenseNet-86/-50 and DPPNet-P/-M are not built: their rows show the paper's numbers only.
* MemNAS (lambda=0.5) / (lambda=0.8): the final network of each search.py out_dir given with
  ``--runs`` (one per lambda; other lambdas get rows of their own), measured at the run's search
  width and at the paper's width 64; the accuracy is the test accuracy of that network after
  search.py's final training (final/result.json), or, for a search without one, its
  validation accuracy in the search (summary.json); the notes say which and how scaled down.
  Without ``--runs`` these rows show the paper's numbers only.

The baselines' accuracy is the paper's only: we train none of them.

    python reproduce/table1_cifar10.py
    python reproduce/table1_cifar10.py --runs runs/reproduce/searches   # MemNAS rows from searches
    python reproduce/table1_cifar10.py --schedule=strict --bytes=4
    python reproduce/table1_cifar10.py --smoke     # seconds: tiny stand-ins under the same rows
"""

import os

from absl import app
from absl import flags

import lifetime
import records
from reproduce import baselines
from reproduce import paper
from reproduce import report
from reproduce import sweep

PAPER_FILTERS = 64  # Section 4.1: "The number of filters in each operation layer is 64."
INPUT_SHAPE = (32, 32, 3)
NOT_BUILT = ("CondenseNet-86", "CondenseNet-50", "DPPNet-P", "DPPNet-M")


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    baselines.define_flags("table1_cifar10", "their final networks fill the MemNAS rows; "
                           "default: the paper's numbers only.",
                           "tiny stand-ins of the baselines (ResNet-8/-14, one block or unit "
                           "per stage) under the same rows.")


def networks(smoke=False):
    """(row, how it is built, builder) of the networks we build; with smoke, tiny stand-ins
    that keep the rows and the code path but build in a fraction of the time."""
    depths, stages, units = ((56, 110), baselines.MOBILENET_V2_CIFAR_STAGES,
                             baselines.SHUFFLENET_V1_UNITS)
    if smoke:
        depths, stages, units = (8, 14), tuple((t, c, 1, s) for t, c, _, s in stages), (1, 1, 1)
    tag = " [SMOKE stand-in: fewer blocks]" if smoke else ""
    return [(name, how + tag, build) for name, how, build in (
        ("MobileNet-V2", "MobileNetV2 1.0x, CIFAR strides (stem and stage 2 stride 1, 4x4 final "
         "maps), 10 classes", lambda: baselines.mobilenet_v2_cifar(10, INPUT_SHAPE, stages)),
        ("ResNet-110", f"ResNet-{depths[1]} of He et al. 2016, option A shortcuts",
         lambda: baselines.resnet_cifar(depths[1], 10, INPUT_SHAPE)),
        ("ResNet-56", f"ResNet-{depths[0]} of He et al. 2016, option A shortcuts",
         lambda: baselines.resnet_cifar(depths[0], 10, INPUT_SHAPE)),
        ("ShuffleNet", "ShuffleNet V1 1.0x, g = 3, CIFAR layout (stride-1 stem, no max pool), "
         "10 classes", lambda: baselines.shufflenet_v1("1.0x", 10, INPUT_SHAPE, True, units)))]


def memnas_rows(runs, bytes_per_value, schedule):
    """({row name: (ours at the paper's width, rows at the search width)}, notes) of each
    search's final network; accuracy: records.Run.final()'s (test where it was tested)."""
    found, notes = {}, []
    for lam, run in records.runs_by_lambda(runs).items():
        arch, final = run.final()

        def ours(filters):
            memory = lifetime.arch_memory(arch, filters, bytes_per_value, schedule, INPUT_SHAPE)
            return dict(report.memory_mib(memory), filters=filters,
                        accuracy=100 * final.accuracy)

        searched = run.config.train["filters"]
        extra = [] if searched == PAPER_FILTERS else [
            {"model": f"  at w={searched}, as searched", "paper": None, "ours": ours(searched)}]
        name = f"MemNAS (lambda={lam:g})"
        found[name] = (ours(PAPER_FILTERS), extra)
        notes.append(f"- {name}: final network of {run.out_dir} (SCALED-DOWN search: "
                     f"{run.describe()}), memory at the paper's width {PAPER_FILTERS}"
                     + (f" and, indented, at its search width {searched}" if extra else "")
                     + f"; accuracy: its {run.accuracy_kind}, at width {searched}, not the "
                     "paper's 60 epochs at width 64.")
    return found, notes


def run(out_dir, runs=None, bytes_per_value=4, schedule="paper", smoke=False, log=print):
    """Table 1: prints the paper's columns beside ours, writes table1_cifar10.json and .png;
    returns the rows (dicts with model, paper and ours)."""
    if bytes_per_value < 1:
        raise ValueError(f"--bytes must be at least 1, got {bytes_per_value}")
    memnas, memnas_notes = (memnas_rows(sweep.find_runs(runs), bytes_per_value, schedule)
                            if runs else ({}, []))
    os.makedirs(out_dir, exist_ok=True)
    log(f"building the baselines at {INPUT_SHAPE[0]}x{INPUT_SHAPE[1]}" +
        (" (--smoke: tiny stand-ins)" if smoke else ""))
    built = baselines.measure_models(networks(smoke), bytes_per_value, schedule, log)

    rows = []
    for name, (total, params, accuracy) in paper.TABLE1.items():
        # MemNAS rows come from the searches (with their search-width variants), the rest
        # from the networks built above, if any.
        ours, extra = memnas.pop(name, (built.get(name), []))
        rows.append({"model": name, "paper": {"total_mb": total, "params_mb": params,
                                              "top1": accuracy}, "ours": ours})
        rows += extra
    for name, (ours, extra) in memnas.items():  # lambdas the paper does not report
        rows += [{"model": name, "paper": None, "ours": ours}] + extra

    text = report.table(
        ["model", "paper total MB", "paper params MB", "paper top-1 %", "ours total MiB",
         "ours params MiB", "ours interm. MiB", "ours acc %"],
        report.paper_vs_ours(rows, ("total_mb", "params_mb", "top1"),
                             ("total_mib", "param_mib", "activation_mib", "accuracy")))
    notes = notes_for(rows, memnas_notes, bytes_per_value, schedule, smoke)
    log("\nTable 1, CIFAR-10 (32x32), paper beside ours\n" + text + "\n" + "\n".join(notes))

    report.write_memory_table(out_dir, "table1_cifar10", "Table 1, CIFAR-10", rows, notes, text, {
        "bytes_per_value": bytes_per_value, "schedule": schedule,
        "input_shape": list(INPUT_SHAPE), "smoke": smoke, "runs": list(runs or [])}, log=log)
    return rows


def notes_for(rows, memnas_notes, bytes_per_value, schedule, smoke):
    """What the table's numbers are: how each of ours was got, and what is the paper's only."""
    notes = report.memory_notes(rows, bytes_per_value, schedule)
    notes.append(f"- {', '.join(NOT_BUILT)}: not built; the paper's numbers only.")
    notes.append("- baselines' accuracy: the paper's only (we train none of them).")
    notes += memnas_notes or [
        f"- MemNAS rows: the paper's numbers only. For ours, run searches with lambda 0.5 "
        f"and 0.8 (python reproduce/figure5_lambda.py writes them to {sweep.SEARCHES}) and "
        f"pass --runs {sweep.SEARCHES}."]
    if smoke:
        notes.append("- SMOKE: tiny stand-in networks, not the paper's; numbers meaningless.")
    return notes


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with report.one_line_errors("table1_cifar10.py"):
        run(FLAGS.out_dir, FLAGS.runs, FLAGS.bytes, FLAGS.schedule, FLAGS.smoke)


if __name__ == "__main__":
    define_flags()
    app.run(main)
