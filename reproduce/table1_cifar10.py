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

By default the baselines' accuracy is the paper's only: we train none of them.

**--train_baselines** (the table at CPU scale, every row trained; the training is
baseline_training.py's). A scaled-down search finds
networks far smaller than the paper's baselines, which nothing could lose to on memory. So this
mode trains baselines *narrowed* to the searched networks' memory, with the recipe the searched
networks' final training used (final.train_final: from scratch, training + validation images,
``final_epochs``, the search's seed) and tests them on the same test images; they appear as
indented rows under the baseline they narrow. The table's columns of ours become p, r, p + r
(MiB) and test accuracy (%) for every row, the MemNAS rows' at their search width indented; the
paper's columns stay as they are. Which baselines:

* candidates (``variants``), p + r in MiB at float32 / paper schedule: ResNet-20 at width 4, 8
  and 16 (0.10, 0.32, 1.15; 16 is He et al.'s), ResNet-56 at width 8 and 16 (0.88, 3.37: the
  ResNet-56 row itself), MobileNetV2 at alpha 0.25 and 0.5 (1.16, 3.07), ShuffleNet V1 0.25x
  and 0.5x (0.35, 1.08). ResNet-110 is not trained: at a given width it is a deeper ResNet-56,
  more of the same at twice the time; its memory row stays.
* per family, for each MemNAS network, the candidate whose p + r (``lifetime.model_memory``,
  the table's --bytes and --schedule) is nearest to that network's p + r at its search width,
  by ratio (``choose``); without ``--runs``, each family's narrowest candidate.
* the recipe: the ``--runs`` searches' config.json (they must agree, or the script refuses,
  naming the field); without ``--runs``, ``--recipe``, ``--final_epochs`` and ``--seed``.
* the data: ``--dataset`` (default: the searches' data set, else cifar10); give
  ``--val_fraction`` and ``--train_examples`` as the searches had them, which config.json does
  not record (they decide the images and the normalization). Table 1 is a CIFAR-10 table: the
  images must be 32x32x3 of 10 classes.

Each result is written to OUT_DIR/trained/<variant>.json as it finishes: a rerun trains only
what is missing, and one with another recipe or data set under the same out_dir is refused. The
notes say, for each MemNAS network, which trained baselines it dominates (higher test accuracy
and lower p + r).

    python reproduce/table1_cifar10.py
    python reproduce/table1_cifar10.py --runs runs/reproduce/searches   # MemNAS rows from searches
    python reproduce/table1_cifar10.py --schedule=strict --bytes=4
    python reproduce/table1_cifar10.py --smoke     # seconds: tiny stand-ins under the same rows
    # + narrowed baselines, trained like the final networks of searches run with
    # figure5_lambda.py --final_epochs=N (its default 0 trains none: refused here) and its
    # default 2,000 training images:
    python reproduce/table1_cifar10.py --train_baselines --runs runs/reproduce/searches \\
        --train_examples=2000
    python reproduce/table1_cifar10.py --train_baselines --recipe=short --final_epochs=30 \\
        --dataset=npz:../shared/data/cifar10_subset.npz   # no searches: the narrowest ones
    python reproduce/table1_cifar10.py --train_baselines --smoke   # seconds: random images
"""

import dataclasses
import math
import os

from absl import app
from absl import flags

import guard
import inputs
import lifetime
import readers
import recipes
from reproduce import baseline_training
from reproduce import baselines
from reproduce import paper
from reproduce import report
from reproduce import sweep
from reproduce.baseline_training import INPUT_SHAPE, NUM_CLASSES

PAPER_FILTERS = 64  # Section 4.1: "The number of filters in each operation layer is 64."
NOT_BUILT = ("CondenseNet-86", "CondenseNet-50", "DPPNet-P", "DPPNet-M")
# The flags of --train_baselines, and those of them that set the recipe without --runs.
TRAINING_FLAGS = ("dataset", "data_dir", "val_fraction", "train_examples", "recipe",
                  "final_epochs", "seed")
RECIPE_FLAGS = ("recipe", "final_epochs", "seed")


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    baselines.define_flags("table1_cifar10", "their final networks fill the MemNAS rows; "
                           "default: the paper's numbers only.",
                           "tiny stand-ins of the baselines (ResNet-8/-14, one block or unit "
                           "per stage) under the same rows; with --train_baselines, width-4 "
                           "stand-ins trained for 1 epoch on a handful of images.")
    flags.DEFINE_bool("train_baselines", False, "Also train baselines narrowed to the memory "
                      "of the --runs networks, with their final training's recipe, and test "
                      "them on the same test images (module docstring); results are kept in "
                      "OUT_DIR/trained/.")
    flags.DEFINE_string("dataset", None, f"--train_baselines: {inputs.DATASET_HELP} Default: "
                        "the --runs searches' data set, else cifar10 (with --smoke: random "
                        "images).")
    flags.DEFINE_string("data_dir", None, "--train_baselines: tensorflow-datasets data "
                        "directory.")
    flags.DEFINE_float("val_fraction", 0.1, "--train_baselines: the searches' --val_fraction "
                       "(the validation images are trained on, as in the final training, but "
                       "the split seeds the order and the normalization).")
    flags.DEFINE_integer("train_examples", None, "--train_baselines: the searches' "
                         "--train_examples (default: all training images).")
    flags.DEFINE_enum("recipe", "paper", list(recipes.RECIPES), "--train_baselines without "
                      "--runs: the training recipe (train.py's); with --runs it is theirs.")
    flags.DEFINE_integer("final_epochs", None, "--train_baselines without --runs: training "
                         "epochs; default: the recipe's.")
    flags.DEFINE_integer("seed", 0, "--train_baselines without --runs: seed of the split, "
                         "weights, shuffle and augmentation.")


def _sizes(smoke):
    """(ResNet depths of the ResNet-56 and -110 rows, MobileNetV2 stages, ShuffleNet units per
    stage): the published ones, or with smoke one block or unit per stage."""
    if smoke:
        return ((8, 14), tuple((t, c, 1, s) for t, c, _, s in
                               baselines.MOBILENET_V2_CIFAR_STAGES), (1, 1, 1))
    return (56, 110), baselines.MOBILENET_V2_CIFAR_STAGES, baselines.SHUFFLENET_V1_UNITS


def networks(smoke=False):
    """(row, how it is built, builder) of the networks we build; with smoke, tiny stand-ins
    that keep the rows and the code path but build in a fraction of the time."""
    depths, stages, units = _sizes(smoke)
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


@dataclasses.dataclass(frozen=True)
class Variant:
    """A narrowed baseline that --train_baselines may train. family: the Table 1 row it
    narrows (its row goes under that one); name: its row; file: its result's name under
    OUT_DIR/trained; build: () -> the Keras model, 10 classes at INPUT_SHAPE."""
    family: str
    name: str
    file: str
    how: str
    build: object


def variants(smoke=False):
    """The narrowed baselines --train_baselines chooses from, in table order, each family's
    narrowest first (`choose` takes it when there is no searched network to match). With
    smoke: width-4 and -8 ResNet-8s and the narrowest of the other two, one block or unit per
    stage."""
    _, stages, units = _sizes(smoke)
    tag = " [SMOKE stand-in: fewer blocks]" if smoke else ""

    def resnet(depth, width):
        return Variant("ResNet-56", f"ResNet-{depth}, w={width}", f"resnet{depth}_w{width}",
                       f"ResNet-{depth} of He et al. 2016 at width {width} ({width}, "
                       f"{2 * width}, {4 * width} filters per stage), option A shortcuts" + tag,
                       lambda: baselines.resnet_cifar(depth, NUM_CLASSES, INPUT_SHAPE, width))

    def mobilenet(alpha):
        return Variant("MobileNet-V2", f"MobileNetV2 {alpha:g}x", f"mobilenet_v2_{alpha:g}x",
                       f"MobileNetV2 alpha {alpha:g} (channels as keras.applications'), CIFAR "
                       "strides" + tag, lambda: baselines.mobilenet_v2_cifar(
                           NUM_CLASSES, INPUT_SHAPE, stages, alpha))

    def shufflenet(scale):
        return Variant("ShuffleNet", f"ShuffleNet V1 {scale}", f"shufflenet_v1_{scale}",
                       f"ShuffleNet V1 {scale}, g = 3, CIFAR layout" + tag,
                       lambda: baselines.shufflenet_v1(scale, NUM_CLASSES, INPUT_SHAPE, True,
                                                       units))

    if smoke:
        return [resnet(8, 4), resnet(8, 8), mobilenet(0.25), shufflenet("0.25x")]
    return [resnet(20, 4), resnet(20, 8), resnet(20, 16), resnet(56, 8), resnet(56, 16),
            mobilenet(0.25),
            mobilenet(0.5), shufflenet("0.25x"), shufflenet("0.5x")]


def choose(candidates, targets):
    """Names of the narrowed baselines to train. candidates: {family: [(name, p + r)]}, the
    narrowest first; targets: the searched networks' p + r (same unit). Per family, for each
    target, the candidate nearest to it by ratio (|log(p + r / target)|: memory spans orders of
    magnitude, and twice as large is as far as half as large; a tie goes to the earlier one);
    with no targets, each family's first."""
    chosen = []
    for options in candidates.values():
        picks = [options[0][0]] if not targets else [
            min(options, key=lambda option: abs(math.log(option[1] / target)))[0]
            for target in targets]
        chosen += [name for name in dict.fromkeys(picks) if name not in chosen]
    return chosen


def dominated(accuracy, total, others):
    """Names of the rows of `others` ((name, accuracy, p + r) triples) that a network of
    `accuracy` and p + r `total` dominates: strictly higher accuracy AND strictly lower p + r.
    A missing accuracy (None: untested, failed) neither dominates nor is dominated."""
    if accuracy is None:
        return []
    return [name for name, other_accuracy, other_total in others
            if other_accuracy is not None and accuracy > other_accuracy and total < other_total]


def memnas_rows(runs, bytes_per_value, schedule):
    """({row name: (ours at the paper's width, rows at the search width)}, notes) of each
    search's final network; accuracy: readers.Run.final()'s (test where it was tested)."""
    found, notes = {}, []
    for lam, run in readers.runs_by_lambda(runs).items():
        arch, final = run.final()

        def ours(filters):
            memory = lifetime.arch_memory(arch, filters, bytes_per_value, schedule, INPUT_SHAPE)
            return dict(report.memory_mib(memory), filters=filters,
                        accuracy=100 * final.accuracy, tested=run.tested is not None)

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


def as_searched(memnas):
    """{row name: ours at the search width} of memnas_rows' rows."""
    return {name: (extra[0]["ours"] if extra else ours) for name, (ours, extra) in
            memnas.items()}


def trained_rows(out_dir, memnas, prepared, bytes_per_value, schedule, smoke, log=print):
    """({family row: indented rows of its trained variants}, notes): the variants `choose`
    picks for the MemNAS networks' p + r at their search width, trained (or read back)."""
    log("measuring the narrowed baselines")
    measured = {v.name: (v, report.memory_mib(lifetime.model_memory(
        v.build(), bytes_per_value, schedule))) for v in variants(smoke)}
    candidates = {}
    for variant, memory in measured.values():
        candidates.setdefault(variant.family, []).append((variant.name, memory["total_mib"]))
    searched = as_searched(memnas)
    names = choose(candidates, [ours["total_mib"] for ours in searched.values()])
    chosen = [variant for variant, _ in measured.values() if variant.name in names]
    results = baseline_training.train_variants(out_dir, chosen, prepared, log)

    rows = {}
    for variant in chosen:
        result = results[variant.file]
        accuracy = result["test_accuracy"]
        ours = dict(measured[variant.name][1], built=f"{variant.how}; trained, "
                    f"{result['status']}", accuracy=None if accuracy is None else 100 * accuracy,
                    status=result["status"], epochs=result["epochs"],
                    seconds=result["seconds"], trained=os.path.join("trained",
                                                                    f"{variant.file}.json"))
        rows.setdefault(variant.family, []).append(
            {"model": f"  {variant.name}, trained", "paper": None, "ours": ours})

    config, data = prepared.config, prepared.data
    notes = [
        f"- trained baselines (indented under the row they narrow): from scratch on {data.name}"
        f" training + validation images ({data.num_train + data.num_val}), tested on its "
        f"{data.num_test} test images, as search.py trains its final networks; recipe "
        f"{config.recipe}, {config.epochs} epoch{'' if config.epochs == 1 else 's'}, batch "
        f"{config.batch_size}, peak learning rate {config.learning_rate:g}, BatchNorm momentum "
        f"{config.bn_momentum:g}, seed "
        f"{config.seed}, from {prepared.recipe_from}. Results in {out_dir}/trained/.",
        "- which: per family, the candidate whose p + r is nearest (by ratio) to each MemNAS "
        "network's at its search width; without --runs, the narrowest. Candidates' p + r (MiB): "
        + "; ".join(f"{family}: " + ", ".join(f"{name} {total:.2f}" for name, total in options)
                    for family, options in candidates.items())
        + ". ResNet-110 is not trained: at a given width a deeper ResNet-56, more of the same "
        "at twice the time. The un-indented baseline rows are not trained: accuracy the "
        "paper's."]
    if prepared.searches_data:
        notes.append(f"- the searches recorded data set {prepared.searches_data}; the "
                     f"baselines were trained and tested on --dataset={data.name}.")
    others = [(row["model"].strip(), row["ours"]["accuracy"], row["ours"]["total_mib"])
              for family_rows in rows.values() for row in family_rows]
    for name, ours in searched.items():
        if not ours["tested"]:
            notes.append(f"- {name}: no test accuracy (no final training yet): not compared "
                         "with the trained baselines.")
            continue
        beaten = dominated(ours["accuracy"], ours["total_mib"], others)
        notes.append(f"- {name} at w={ours['filters']} (test {ours['accuracy']:.2f} %, p + r "
                     f"{ours['total_mib']:.3f} MiB) dominates (higher test accuracy, lower "
                     f"p + r): {', '.join(beaten) or 'none'} of the trained baselines.")
    return rows, notes


def run(out_dir, runs=None, bytes_per_value=4, schedule="paper", smoke=False, log=print,
        training=None):
    """Table 1: prints the paper's columns beside ours, writes table1_cifar10.json and .png;
    returns the rows (dicts with model, paper and ours). training: a
    baseline_training.Training to also train the narrowed baselines (--train_baselines), or
    None."""
    if bytes_per_value < 1:
        raise ValueError(f"--bytes must be at least 1, got {bytes_per_value}")
    found = sweep.find_runs(runs) if runs else []
    memnas, memnas_notes = (memnas_rows(found, bytes_per_value, schedule) if runs else ({}, []))
    os.makedirs(out_dir, exist_ok=True)
    # Bad training input (recipes, data) fails here, before minutes of building.
    prepared = None if training is None else baseline_training.prepare_training(
        out_dir, found, training, smoke, log)
    log(f"building the baselines at {INPUT_SHAPE[0]}x{INPUT_SHAPE[1]}" +
        (" (--smoke: tiny stand-ins)" if smoke else ""))
    built = baselines.measure_models(networks(smoke), bytes_per_value, schedule, log)
    trained, trained_notes = ({}, []) if prepared is None else trained_rows(
        out_dir, memnas, prepared, bytes_per_value, schedule, smoke, log)

    rows = []
    for name, (total, params, accuracy) in paper.TABLE1.items():
        # MemNAS rows come from the searches (with their search-width variants), the rest
        # from the networks built above, if any, with their trained narrowed variants.
        ours, extra = memnas.pop(name, (built.get(name), []))
        rows.append({"model": name, "paper": {"total_mb": total, "params_mb": params,
                                              "top1": accuracy}, "ours": ours})
        rows += extra + trained.get(name, [])
    for name, (ours, extra) in memnas.items():  # lambdas the paper does not report
        rows += [{"model": name, "paper": None, "ours": ours}] + extra

    if prepared is None:
        header = ["ours total MiB", "ours params MiB", "ours interm. MiB", "ours acc %"]
        keys = ("total_mib", "param_mib", "activation_mib", "accuracy")
    else:
        header = ["ours p MiB", "ours r MiB", "ours p + r MiB", "ours test acc %"]
        keys = ("param_mib", "activation_mib", "total_mib", "accuracy")
    text = report.table(
        ["model", "paper total MB", "paper params MB", "paper top-1 %", *header],
        report.paper_vs_ours(rows, ("total_mb", "params_mb", "top1"), keys))
    notes = notes_for(rows, memnas_notes, bytes_per_value, schedule, smoke,
                      None if prepared is None else trained_notes)
    log("\nTable 1, CIFAR-10 (32x32), paper beside ours\n" + text + "\n" + "\n".join(notes))

    settings = {"bytes_per_value": bytes_per_value, "schedule": schedule,
                "input_shape": list(INPUT_SHAPE), "smoke": smoke, "runs": list(runs or []),
                "train_baselines": prepared is not None}
    if prepared is not None:
        settings["training"] = dict(prepared.key, config=dataclasses.asdict(prepared.config))
    report.write_memory_table(out_dir, "table1_cifar10", "Table 1, CIFAR-10", rows, notes, text,
                              settings, log=log)
    return rows


def notes_for(rows, memnas_notes, bytes_per_value, schedule, smoke, trained_notes=None):
    """What the table's numbers are: how each of ours was got, and what is the paper's only.
    trained_notes: trained_rows' notes, None when no baseline was trained."""
    notes = report.memory_notes(rows, bytes_per_value, schedule)
    notes.append(f"- {', '.join(NOT_BUILT)}: not built; the paper's numbers only.")
    if trained_notes is None:
        notes.append("- baselines' accuracy: the paper's only (we train none of them; "
                     "--train_baselines trains narrowed ones).")
    notes += memnas_notes or [
        f"- MemNAS rows: the paper's numbers only. For ours, run searches with lambda 0.5 "
        f"and 0.8 (python reproduce/figure5_lambda.py writes them to {sweep.SEARCHES}) and "
        f"pass --runs {sweep.SEARCHES}."]
    notes += trained_notes or []
    if smoke:
        notes.append("- SMOKE: tiny stand-in networks, not the paper's; numbers meaningless.")
    return notes


def training_of_flags(values):
    """The Training of --train_baselines and its flags in `values` (absl FlagValues), or None
    without it; ValueError for a flag that would be ignored."""
    given = [name for name in TRAINING_FLAGS if values[name].present]
    if not values.train_baselines:
        if given:
            raise ValueError(f"--{given[0]} is a setting of --train_baselines, which is off")
        return None
    from_flags = [name for name in RECIPE_FLAGS if values[name].present]
    if values.runs and from_flags:
        raise ValueError(f"--{from_flags[0]}: with --runs the recipe is the searches' (their "
                         "config.json); give it only without --runs")
    if values.final_epochs is not None and values.final_epochs < 1:
        raise ValueError(f"--final_epochs must be at least 1, got {values.final_epochs}")
    return baseline_training.Training(
        values.dataset, values.data_dir, values.val_fraction, values.train_examples,
        recipes.TrainConfig.of_recipe(values.recipe, epochs=values.final_epochs,
                                      seed=values.seed))


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("table1_cifar10.py"):
        run(FLAGS.out_dir, FLAGS.runs, FLAGS.bytes, FLAGS.schedule, FLAGS.smoke,
            training=training_of_flags(FLAGS))


if __name__ == "__main__":
    define_flags()
    app.run(main)
