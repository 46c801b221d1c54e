"""Table 2 of the paper (Section 4.3): ImageNet networks by total memory, latency and top-1
accuracy; we reproduce the memory column, which needs no ImageNet training.

Ours, at 224x224 with 1000 classes (``lifetime.model_memory``: parameters with BatchNorm folded
plus the peak of the lifetime analysis, paper schedule by default):

* MobileNet V2 (1.0x) and (1.4x), NASNet (Mobile): ``keras.applications`` (weights=None).
* ShuffleNet V1 (1.5x) and (2.0x): ``baselines.shufflenet_v1`` (g = 3, ImageNet layout). The V2
  rows, CondenseNet, DVOLER, EMNAS, FBNet, MnasNet, DARTS, DPPNet and ProxylessNAS are not built:
  the paper's numbers only.
* MemNAS-A / MemNAS-B: Section 4.1 "extends the number of the blocks and the filters of the
  inference neural network to 16 and 256" the networks found on CIFAR-10 with lambda = 0.5 / 0.8.
  We take the final network of the search with that lambda (``--runs``) or, without one, the
  Figure 1b block (examples/figure1b.json, clearly labelled: not a search result), and lay its
  blocks onto a 16-block template (``IMAGENET_STRIDES``, ``IMAGENET_WIDTHS``): five stride-2
  blocks take 224x224 to 7x7; each block copies the cells of the CIFAR block with the same
  stride at the nearest relative depth (``source_blocks``). Memory is exact
  (``lifetime.arch_memory``); no Keras model is built.

  The paper's "256 filters" cannot be the first width w: our stem (as ``network.build_model``
  builds it) is a stride-1 3x3 conv at the input resolution, and 224x224x256 floats alone are
  49 MiB, twice the paper's whole MemNAS-A. We read 256 as the widest layer, as the CIFAR
  template at the paper's w = 64 ends with 4w = 256 filters: w = 32 (``--filters``) with
  widths 1, 2, 4, 8, 8 per stage.

Accuracy and latency are the paper's only: no ImageNet training, no phone.

    python reproduce/table2_imagenet.py
    python reproduce/table2_imagenet.py --runs runs/reproduce/searches
    python reproduce/table2_imagenet.py --smoke     # seconds: small stand-ins, big models skipped
"""

import os

from absl import app
from absl import flags

import cells
import guard
import lifetime
import readers
from reproduce import baselines
from reproduce import paper
from reproduce import report
from reproduce import sweep

INPUT_SHAPE = (224, 224, 3)
NUM_CLASSES = 1000
# The 16-block template: five stages after a stride-2 block each, 112x112 down to 7x7.
IMAGENET_STRIDES = (2, 1, 1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 1, 2, 1, 1)
IMAGENET_WIDTHS = (1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 8, 8, 8, 8)
IMAGENET_FILTERS = 32  # w: the widest blocks have 8w = 256 filters, the paper's number
LAMBDAS = {"MemNAS-A": 0.5, "MemNAS-B": 0.8}  # Table 2's caption
FALLBACK = "examples/figure1b.json"  # cells.FIGURE_1B, as a file
FIGURE_1B_LABEL = "Figure 1b block, NOT a search result"


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    baselines.define_flags("table2_imagenet", "the lambda 0.5 and 0.8 searches give MemNAS-A "
                           "and -B. Default: the Figure 1b block.",
                           "MobileNetV2 0.35x at 96x96 and ShuffleNets with one unit per stage "
                           "stand in; MobileNet V2 1.4x and NASNet are skipped.")
    flags.DEFINE_integer("filters", IMAGENET_FILTERS, "w of the MemNAS-A/-B extension; the "
                         "widest blocks have 8w filters (default 32: 256, the paper's number).")


def keras_app(name, **kwargs):
    import keras
    return getattr(keras.applications, name)(weights=None, classes=NUM_CLASSES, **kwargs)


def networks(smoke=False):
    """(row, how it is built, builder) of the networks we build; with smoke, small stand-ins
    of three of them under the same rows, and the slow ones left out."""
    def mobilenet(alpha, size=INPUT_SHAPE[0]):
        return lambda: keras_app("MobileNetV2", input_shape=(size, size, 3), alpha=alpha)

    def shufflenet(scale, units=baselines.SHUFFLENET_V1_UNITS):
        return lambda: baselines.shufflenet_v1(scale, NUM_CLASSES, INPUT_SHAPE, False, units)

    if smoke:
        tag = " [SMOKE stand-in]"
        return [
            ("MobileNet V2 (1.0x)", "keras.applications.MobileNetV2 alpha 0.35 at 96x96" + tag,
             mobilenet(0.35, 96)),
            ("ShuffleNet V1 (1.5x)", "ShuffleNet V1 1.5x, g = 3, one unit per stage" + tag,
             shufflenet("1.5x", (1, 1, 1))),
            ("ShuffleNet V1 (2.0x)", "ShuffleNet V1 2.0x, g = 3, one unit per stage" + tag,
             shufflenet("2.0x", (1, 1, 1)))]
    return [
        ("MobileNet V2 (1.0x)", "keras.applications.MobileNetV2 alpha 1.0", mobilenet(1.0)),
        ("MobileNet V2 (1.4x)", "keras.applications.MobileNetV2 alpha 1.4", mobilenet(1.4)),
        ("NASNet (Mobile)", "keras.applications.NASNetMobile",
         lambda: keras_app("NASNetMobile", input_shape=INPUT_SHAPE)),
        ("ShuffleNet V1 (1.5x)", "ShuffleNet V1 1.5x, g = 3, ImageNet layout "
         "(baselines.shufflenet_v1)", shufflenet("1.5x")),
        ("ShuffleNet V1 (2.0x)", "ShuffleNet V1 2.0x, g = 3, ImageNet layout "
         "(baselines.shufflenet_v1)", shufflenet("2.0x"))]


def source_blocks(strides=IMAGENET_STRIDES, template=cells.BLOCK_STRIDES):
    """For each block of `strides`, the index of the `template` block it copies: the one with
    the same stride at the nearest relative depth (first block 0, last block 1)."""
    picks = []
    for i, stride in enumerate(strides):
        same = [j for j, s in enumerate(template) if s == stride]
        if not same:
            raise ValueError(f"template has no block with stride {stride}")
        depth = i / (len(strides) - 1)
        picks.append(min(same, key=lambda j: abs(j / (len(template) - 1) - depth)))
    return tuple(picks)


def imagenet_arch(arch):
    """The 16-block network that repeats the blocks of a 5-block CIFAR `arch`."""
    arch = cells.prune(arch)
    return cells.Arch(tuple(arch.blocks[j] for j in source_blocks()))


def memnas_rows(runs, filters, bytes_per_value, schedule):
    """{"MemNAS-A": ours, "MemNAS-B": ours} and a note each: the lambda 0.5 / 0.8 search's
    final network (or the Figure 1b block) on the 16-block template at width `filters`."""
    found = readers.runs_by_lambda(runs) if runs else {}
    rows, notes = {}, []
    for name, lam in LAMBDAS.items():
        if lam in found:
            arch, arch_file = found[lam].final()[0], found[lam].out_dir
            source = (f"the final network of {arch_file} (lambda {lam:g}, SCALED-DOWN search: "
                      f"{found[lam].describe()})")
        else:
            arch, arch_file = cells.FIGURE_1B, FALLBACK
            source = (f"{FIGURE_1B_LABEL} ({arch_file}): no lambda {lam:g} search given with "
                      f"--runs")
        memory = lifetime.arch_memory(imagenet_arch(arch), filters, bytes_per_value, schedule,
                                      INPUT_SHAPE, NUM_CLASSES, IMAGENET_STRIDES,
                                      IMAGENET_WIDTHS)
        rows[name] = dict(report.memory_mib(memory), filters=filters, arch=arch_file,
                          search_result=lam in found)
        notes.append(f"- {name}: {source}, on the 16-block template at w = {filters}; "
                     f"{memory.params:,d} parameters (BN folded).")
    return rows, notes


def template_note(filters):
    names = ", ".join(f"b{j + 1}" for j in source_blocks())
    return (f"- MemNAS template: stem 3x3 conv, stride 1, {filters} filters (as "
            f"network.build_model), then 16 blocks with strides "
            f"{', '.join(map(str, IMAGENET_STRIDES))} and widths "
            f"{', '.join(map(str, IMAGENET_WIDTHS))} x w, w = {filters}; they copy the CIFAR "
            f"blocks {names}; global average pooling, dense to {NUM_CLASSES} classes.")


def run(out_dir, runs=None, filters=IMAGENET_FILTERS, bytes_per_value=4, schedule="paper",
        smoke=False, log=print):
    """Table 2's memory column: prints the paper's columns beside ours, writes
    table2_imagenet.json and .png; returns the rows (dicts with model, paper and ours)."""
    if bytes_per_value < 1:
        raise ValueError(f"--bytes must be at least 1, got {bytes_per_value}")
    if filters < 1:
        raise ValueError(f"--filters must be at least 1, got {filters}")
    memnas, memnas_notes = memnas_rows(sweep.find_runs(runs) if runs else None, filters,
                                       bytes_per_value, schedule)
    os.makedirs(out_dir, exist_ok=True)
    log(f"building the baselines at {INPUT_SHAPE[0]}x{INPUT_SHAPE[1]}, {NUM_CLASSES} classes"
        + (" (--smoke: small stand-ins)" if smoke else ""))
    built = baselines.measure_models(networks(smoke), bytes_per_value, schedule, log)
    built.update(memnas)
    rows = [{"model": name, "paper": {"total_mb": total, "latency_ms": latency, "top1": top1},
             "ours": built.get(name)}
            for name, (total, latency, top1) in paper.TABLE2.items()]

    shown = [dict(row, model=f"{row['model']} ({FIGURE_1B_LABEL})")
             if (row["ours"] or {}).get("search_result") is False else row for row in rows]
    text = report.table(
        ["model", "paper total MB", "paper latency ms", "paper top-1 %", "ours total MiB",
         "ours params MiB", "ours interm. MiB"],
        report.paper_vs_ours(shown, ("total_mb", "latency_ms", "top1"),
                             ("total_mib", "param_mib", "activation_mib")))
    notes = report.memory_notes(rows, bytes_per_value, schedule) + memnas_notes
    notes.append(template_note(filters))
    notes.append("- rows without ours: not built, the paper's numbers only"
                 + (" (MobileNet V2 1.4x and NASNet skipped in --smoke)" if smoke else "")
                 + ". Accuracy and latency: the paper's only (no ImageNet training, no phone).")
    if smoke:
        notes.append("- SMOKE: small stand-in networks, not the paper's; numbers meaningless.")
    log(f"\nTable 2, ImageNet ({INPUT_SHAPE[0]}x{INPUT_SHAPE[1]}), paper beside ours\n{text}\n"
        + "\n".join(notes))

    report.write_memory_table(out_dir, "table2_imagenet", "Table 2, ImageNet", rows, notes, text, {
        "bytes_per_value": bytes_per_value, "schedule": schedule,
        "input_shape": list(INPUT_SHAPE), "smoke": smoke, "runs": list(runs or []),
        "filters": filters, "template": {"strides": list(IMAGENET_STRIDES),
                                         "widths": list(IMAGENET_WIDTHS),
                                         "source_blocks": [j + 1 for j in source_blocks()]}},
        chart_rows=shown, log=log)
    return rows


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("table2_imagenet.py"):
        run(FLAGS.out_dir, FLAGS.runs, FLAGS.filters, FLAGS.bytes, FLAGS.schedule, FLAGS.smoke)


if __name__ == "__main__":
    define_flags()
    app.run(main)
