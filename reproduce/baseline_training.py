"""Table 1 at CPU scale (`table1_cifar10.py --train_baselines`): how a narrowed baseline is
trained as a search trains its final network, and its result kept.

The recipe is the searches' final training (their config.json, `recipe_of_runs`; all alike),
or without searches the flags' (`Training.config`); the data set is the searches' (or the
flag's) and must be CIFAR-10-shaped (`prepare_training`). Each baseline is trained from scratch
on training + validation images and tested on the test split (`train_variants`), and its result
written to OUT_DIR/trained/<variant>.json as it finishes, with what it depends on besides the
network (`Prepared.key`): a rerun trains only what is missing and refuses a result of another
recipe or data set (`check_trained`). A training killed part-way resumes from its last finished
epoch (OUT_DIR/trained/<variant>.<key digest>.backup/, train.train's backup_dir).
"""

import dataclasses
import functools
import json
import os

import keras
import numpy as np

import inputs
import recipes
import guard
import records
import train
from reproduce import report

INPUT_SHAPE = (32, 32, 3)  # Table 1 compares CIFAR-10 networks
NUM_CLASSES = 10
# --smoke --train_baselines: training images kept (a handful: seconds per network).
SMOKE_TRAIN_EXAMPLES = 8
# TrainConfig fields a trained baseline does not depend on: how training runs, and the width
# of a cells.Arch (a baseline has its own).
NOT_RECIPE = recipes.EXECUTION_ONLY + ("filters",)


@dataclasses.dataclass(frozen=True)
class Training:
    """--train_baselines: the data set (dataset None: the searches', else cifar10, or with
    smoke random images) and, used only without --runs, the recipe `config`."""
    dataset: str | None = None
    data_dir: str | None = None
    val_fraction: float = 0.1
    train_examples: int | None = None
    config: recipes.TrainConfig = recipes.TrainConfig()


def recipe(config):
    """The TrainConfig fields a trained baseline depends on (NOT_RECIPE left out)."""
    return {name: value for name, value in dataclasses.asdict(config).items()
            if name not in NOT_RECIPE}


def recipe_of_runs(runs):
    """The TrainConfig of the searches' final training (final.train_final): config.json's
    recipe, with what an older out_dir computed with for settings added since
    (records.OutDir.train_added_later), the search's final_epochs and seed. ValueError naming
    the first field where two runs differ, or a run with no final training."""
    known = {field.name for field in dataclasses.fields(recipes.TrainConfig)}
    configs = []
    for run in runs:
        recorded = {**records.OutDir(run.out_dir).train_added_later(), **run.config.train}
        unknown = sorted(set(recorded) - known)
        if unknown:
            raise ValueError(f"--runs: {run.out_dir}: config.json's training settings "
                             f"{', '.join(unknown)} are unknown to this train.py")
        if run.config.search.final_epochs == 0:
            raise ValueError(f"--runs: {run.out_dir} has no final training (final_epochs 0): "
                             "no test accuracy to compare and no length to train baselines "
                             "for; search with --final_epochs")
        configs.append((run.out_dir, dataclasses.replace(
            recipes.TrainConfig(**recorded), epochs=run.config.search.final_epochs,
            seed=run.config.search.seed)))
    (first_dir, first), *others = configs
    for out_dir, config in others:
        for name, value in recipe(first).items():
            if recipe(config)[name] != value:
                raise ValueError(f"--runs: {first_dir} and {out_dir} trained their final "
                                 f"networks with different {name} ({value!r} and "
                                 f"{recipe(config)[name]!r}); give searches of one recipe")
    return first


def smoke_dataset(out_dir):
    """`npz:PATH` of 24 training and 10 test random 32x32 images of 10 classes, written to
    OUT_DIR: --smoke --train_baselines needs no data set (nor a download)."""
    rng = np.random.default_rng(0)
    path = os.path.join(out_dir, "smoke_data.npz")
    np.savez(path, x_train=rng.integers(0, 256, (24, *INPUT_SHAPE), dtype=np.uint8),
             y_train=np.arange(24) % NUM_CLASSES,
             x_test=rng.integers(0, 256, (10, *INPUT_SHAPE), dtype=np.uint8),
             y_test=np.arange(10) % NUM_CLASSES)
    return f"npz:{path}"


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What --train_baselines trains with: the config (execution settings included), the data
    (inputs.Data, validation still split off), where both came from, and what a result
    depends on besides the network (`key`)."""
    config: recipes.TrainConfig
    data: object
    recipe_from: str
    searches_data: str | None

    @property
    def key(self):
        d = self.data
        return {"recipe": recipe(self.config),
                "data": {"dataset": d.name, "num_train": d.num_train, "num_val": d.num_val,
                         "num_test": d.num_test, "mean": [round(float(v), 4) for v in d.mean]}}

    @property
    def digest(self):
        """A short name of `key`: a training's backup is resumed only under the same key."""
        return records.short_name(json.dumps(self.key, sort_keys=True))


def prepare_training(out_dir, runs, training, smoke, log=print):
    """The config and data of --train_baselines, checked before anything is built or trained:
    the recipe of `runs` (readers.Run; all alike) or of `training.config`."""
    if runs:
        config, recipe_from = recipe_of_runs(runs), "the --runs searches' config.json"
    else:
        config, recipe_from = training.config, (f"--recipe={training.config.recipe}, "
                                                f"--final_epochs={training.config.epochs}")
    if config.epochs < 1:
        raise ValueError(f"--final_epochs must be at least 1, got {config.epochs}")
    if smoke:
        recipe_from += "; --smoke: 1 epoch, eager steps"
    # Execution only (NOT_RECIPE): eager steps are faster for the smoke's few batches, traced
    # ones for real training; one line per epoch shows a long run is alive.
    config = (dataclasses.replace(config, epochs=1, verbose=0, run_eagerly=True,
                                  jit_compile="auto") if smoke else
              dataclasses.replace(config, verbose=2, run_eagerly=False))
    searched = sorted({run.config.data for run in runs})
    if len(searched) > 1:
        raise ValueError(f"--runs: the searches used different data sets ({', '.join(searched)});"
                         " their networks were not tested on the same images")
    dataset = training.dataset or (searched[0] if searched else
                                   smoke_dataset(out_dir) if smoke else "cifar10")
    train_examples = training.train_examples
    if smoke:
        train_examples = min(train_examples or SMOKE_TRAIN_EXAMPLES, SMOKE_TRAIN_EXAMPLES)
    log(f"loading {dataset} for the trained baselines")
    data = inputs.load_data(dataset, training.data_dir, training.val_fraction, train_examples,
                            config.seed)
    if data.input_shape != INPUT_SHAPE or data.num_classes != NUM_CLASSES:
        raise ValueError(f"--dataset={dataset}: Table 1 compares CIFAR-10 networks: need "
                         f"32x32x3 images of {NUM_CLASSES} classes, got {data.input_shape}, "
                         f"{data.num_classes} classes")
    return Prepared(config, data, recipe_from,
                    searched[0] if searched and searched[0] != dataset else None)


def built_with_bn_momentum(build, momentum):
    """The model of `build()` with every BatchNorm's momentum set to the recipe's
    (baselines._bn builds with network.BN_MOMENTUM; a search from before that setting trained
    its networks with 0.99)."""
    model = build()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
    return model


def check_trained(path, key):
    """The result of OUT_DIR/trained/<variant>.json, or None if there is none; ValueError if it
    was trained with another recipe or data set than `key`, naming the first difference."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            done = json.load(f)
        except json.JSONDecodeError:
            raise ValueError(f"{path}: not JSON; delete it to train that baseline again") from None
    for section, now in key.items():
        before = done.get("key", {}).get(section, {})
        for name in sorted(set(before) | set(now)):
            if before.get(name) != now.get(name):
                raise ValueError(f"{path} was trained with {section} {name} "
                                 f"{before.get(name)!r}, now {now.get(name)!r}; use another "
                                 "--out_dir")
    return done


def train_variants(out_dir, chosen, prepared, log=print):
    """{variant file: result dict} of the `chosen` Variants, each trained from scratch as
    final.train_final trains a final network (training + validation images, tested on the
    test split) unless OUT_DIR/trained/ holds its result; each written there as it finishes.
    Every result already there is checked before anything is trained."""
    folder = os.path.join(out_dir, "trained")
    os.makedirs(folder, exist_ok=True)
    paths = {v.file: os.path.join(folder, f"{v.file}.json") for v in chosen}
    results = {v.file: check_trained(paths[v.file], prepared.key) for v in chosen}
    todo = [v for v in chosen if results[v.file] is None]
    if len(todo) < len(chosen):
        log(f"  {len(chosen) - len(todo)} trained baseline(s) read back from {folder}")
    data = inputs.with_validation(prepared.data)
    config = prepared.config
    for variant in todo:
        log(f"  training {variant.name}: {config.epochs} epochs on {data.num_train} images")
        result = train.train(None, data, config, evaluate_test=True, start=functools.partial(
            built_with_bn_momentum, variant.build, config.bn_momentum),
            backup_dir=os.path.join(folder, f"{variant.file}.{prepared.digest}.backup"))
        results[variant.file] = dict(
            model=variant.name, built=variant.how, key=prepared.key, status=result.status,
            test_accuracy=result.test_accuracy, epochs=result.epochs,
            seconds=round(result.seconds, 3), config=dataclasses.asdict(config))
        guard.write_json(paths[variant.file], results[variant.file])  # a kill loses nothing
        log(f"  {variant.name}: {result.status}, test accuracy "
            f"{report.fmt(result.test_accuracy, 4)}, {result.seconds:.0f} s"
            + ("" if result.status == "ok" else
               f" (kept as a result; delete {paths[variant.file]} to train it again)"))
    return results
