"""Training one candidate network (paper Section 4.1).

The paper trains every candidate the same way: CIFAR-10 with per-channel normalization, the
training images padded to 40x40 and randomly cropped back to 32x32, random horizontal flips and
cutout (one 16x16 hole, from the authors' code); SGD with momentum 0.9, learning rate 0.01,
batch 128, cosine decay with warm restarts (SGDR, Loshchilov & Hutter), 60 epochs. Every number
is a field of `recipes.TrainConfig` and a flag, the paper's values the defaults; recipes,
BatchNorm momentum, the SGDR period and the GPU fast path are decided there. The data, its
splits and the augmentation are inputs.py's. Decisions the paper leaves open, made here once:

* **Failures.** `train` never raises for a bad candidate: a non-finite loss stops training
  (`keras.callbacks.TerminateOnNaN`) and gives status "nan" with no accuracy (None: a diverged
  network's accuracy is noise, and None cannot be selected by accident); any other exception
  while building, training or evaluating gives status "error: <Type>: <message>". Bad *input*
  (data set, numbers) raises ValueError before any training.
* **Determinism.** `keras.utils.set_random_seed(seed)` seeds weights and Python/NumPy/TF; the
  shuffle and every augmentation draw from the same seed (per-example stateless seeds), so on a
  CPU the same architecture, data and config give the same accuracy twice (tested). Op
  determinism (`tf.config.experimental.enable_op_determinism`) is process-wide and slows GPUs
  down; it was not needed on CPU and is not switched on here.

* **Starting from a trained parent.** `train(..., start=...)` trains a model built elsewhere,
  e.g. a grow/trim candidate that inherited its base's weights (inherit.py); the learning rate
  starts again from its peak (SGDR's warm restart), and `epochs=0` only evaluates it. A saved
  model's architecture is kept beside it, PATH.json for PATH.keras (`save_model`,
  `load_model`), because a Keras file holds layers, not the cells.py encoding they came from.
Command line: ``python train.py --arch=ARCH.json --dataset=cifar10|imagenet2012|npz:PATH
--out=DIR`` trains one architecture, prints validation and test accuracy and writes
DIR/result.json, DIR/model.keras and DIR/model.json (the architecture). With
``--init=PARENT_DIR/model.keras`` the network starts from that trained parent's weights
(inherit.py), and ``--epochs=0`` only evaluates it, e.g. to check that a grown network computes
its parent's function.
"""

import dataclasses
import json
import os
import time

from absl import app
from absl import flags
import keras
import numpy as np

import arch_json
import guard
import inherit
import inputs
import network
import pipelines
import pointwise
import recipes


def define_flags():
    """Flags of this file's command line; defined only when it runs as a script, so that
    other scripts can import it as a library without a clash of flag names."""
    defaults = recipes.TrainConfig()
    flags.DEFINE_string("arch", None, "JSON architecture file (see arch_json.py, examples/).")
    flags.DEFINE_string("dataset", "cifar10", inputs.DATASET_HELP)
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory.")
    flags.DEFINE_integer("input_size", None, inputs.INPUT_SIZE_HELP)
    flags.DEFINE_float("val_fraction", 0.1, "Fraction of the training data held out for "
                       "validation (selection).")
    flags.DEFINE_integer("train_examples", None, "Keep only this many training examples "
                         "(after the validation split is carved out); default: all.")
    recipes.define_recipe_flags(epochs_help="0 with --init only evaluates the inherited network")
    flags.DEFINE_string("init", None, "Start from this trained parent (a .keras file with its "
                        "architecture beside it as .json, as train.py and search.py write "
                        "them): layers it shares with --arch keep their weights (inherit.py).")
    flags.DEFINE_integer("filters", defaults.filters, "Filters of the first block (w).")
    flags.DEFINE_integer("seed", defaults.seed, "Seed of the splits, weights, shuffle and "
                         "augmentation.")
    flags.DEFINE_integer("verbose", defaults.verbose, "Keras verbosity: 0 silent, 1 progress "
                         "bar, 2 one line per epoch.")
    flags.DEFINE_bool("run_eagerly", defaults.run_eagerly, "Run the steps eagerly instead of "
                      "tracing them: faster for a few batches, slower for real training.")
    flags.DEFINE_enum("mixed_precision", defaults.mixed_precision, recipes.MIXED_PRECISION,
                      "Keras dtype policy: float32, or 16-bit computation with float32 weights, "
                      "logits and loss (faster on GPUs with bfloat16/float16 units; changes the "
                      "numbers). mixed_float16 adds loss scaling.")
    flags.DEFINE_bool("jit_compile", None, "Compile the training and evaluation steps with XLA "
                      "(--nojit_compile: never). Default: Keras' choice, XLA on a GPU when every "
                      "layer supports it, none on a CPU.")
    flags.DEFINE_string("out", None, "Write result.json, model.keras and model.json (its "
                        "architecture) to this directory.")



# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Accuracies in [0, 1]; None where not measured (test unless asked, any status but "ok").

    status: "ok", "nan" (the loss became non-finite and training stopped) or
    "error: <ExceptionType>: <first line of the message>". epochs: epochs run (those of a
    resumed part included: see `train`'s backup_dir), the last one possibly cut short.
    """
    val_accuracy: float | None
    test_accuracy: float | None
    seconds: float
    status: str
    epochs: int


def train(arch, data, config, model_path=None, evaluate_test=False, start=None,
          backup_dir=None):
    """Train `arch` on `data` with Section 4.1's recipe and measure validation accuracy.

    start: a function of no arguments that returns the Keras model of `arch` to train, e.g. one
    that inherited a parent's weights (inherit.inherit); called after the seed is set, so its
    fresh layers are seeded too. Default: `network.build_model`, fresh weights. With
    `config.epochs == 0` the model is only evaluated (a `start` is then required).

    backup_dir: where the training state (weights, optimizer, epochs done) is kept after every
    epoch (Keras' BackupAndRestore), so that a long training killed part-way resumes from its
    last finished epoch when called again with the same directory; removed when the training
    ends. A resumed training sees a fresh shuffle order, and `seconds` counts its last part.

    The test split is evaluated only if `evaluate_test`. If `model_path` (a .keras file) is
    given, the trained model is saved there with its architecture beside it (`save_model`)
    when the status is "ok". Exceptions from building, training or evaluating the model are
    reported in the status, not raised, so that a search can record a failed candidate and go
    on.

    The model is built (by `start` too), trained and evaluated under the Keras dtype policy
    `config.mixed_precision`; the global policy is the caller's again when `train` returns.

    Side effects on the process: Keras' global state is cleared (`keras.backend.clear_session`;
    models built earlier keep working) and the Python, NumPy and TensorFlow seeds are set to
    `config.seed`.
    """
    if model_path is not None and not str(model_path).endswith(".keras"):
        raise ValueError(f"model_path must end in .keras, got {model_path}")
    if config.epochs == 0 and start is None:
        raise ValueError("epochs=0 only evaluates, and needs a model to start from (start, "
                         "or --init on the command line)")
    begin = time.perf_counter()
    history = keras.callbacks.History()
    history.epoch = []  # set by on_train_begin; here so that a failed build reads as 0 epochs
    val_accuracy = test_accuracy = None
    caller_policy = keras.config.dtype_policy()
    try:
        # A search trains hundreds of models in one process: drop the previous ones' graphs,
        # then seed (clear_session resets Keras' global seed generator) and set the dtype policy
        # (clear_session resets it to float32 too).
        keras.backend.clear_session()
        keras.utils.set_random_seed(config.seed)
        keras.config.set_dtype_policy(config.mixed_precision)
        if start is None:
            model = network.build_model(arch, config.filters, data.num_classes, data.input_shape,
                                      bn_momentum=config.bn_momentum)
        else:
            model = start()
        steps = pipelines.steps_per_epoch(data.num_train, config.batch_size)
        # A new optimizer per call: the learning rate starts again from its peak, which for an
        # inherited model is SGDR's warm restart.
        weight_decay = config.weight_decay or None  # Keras wants None, not 0, for "none"
        optimizer = keras.optimizers.SGD(learning_rate_schedule(config, steps),
                                         momentum=config.momentum, nesterov=config.nesterov,
                                         weight_decay=weight_decay)
        if config.mixed_precision == "mixed_float16":
            # compile wraps it only when the model's own policy is mixed_float16; wrapped here,
            # a `start` that built its model another way is scaled too.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, loss=loss_function(config.label_smoothing),
                      metrics=["accuracy"], run_eagerly=config.run_eagerly,
                      jit_compile=config.jit_compile)
        if config.epochs > 0:
            # The backup first: an epoch is saved before anything after it can stop the run;
            # double: a kill while saving leaves the epoch before.
            backup = ([keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True)]
                      if backup_dir else [])
            model.fit(pipelines.train_pipeline(data, config), epochs=config.epochs,
                      verbose=config.verbose,
                      shuffle=False,  # the pipeline shuffles; Keras cannot shuffle a tf.data set
                      callbacks=backup + [keras.callbacks.TerminateOnNaN(), history])
        losses = history.history.get("loss", [])
        if not np.all(np.isfinite(losses)):
            status = "nan"
        else:
            status = "ok"
            if start is not None and config.bn_recalibration:
                recalibrate_batchnorm(model, pipelines.train_pipeline(data, config),
                                      config.bn_recalibration)
            val_accuracy = _accuracy(model, pipelines.eval_pipeline(data, data.val,
                                                                    config.batch_size))
            if evaluate_test:
                test_accuracy = _accuracy(model, pipelines.eval_pipeline(data, data.test,
                                                                         config.batch_size))
            if model_path is not None:
                save_model(model, arch, str(model_path))
    except Exception as e:  # a bad candidate is a result to record, not a crash
        status = f"error: {type(e).__name__}: {guard.first_line(e)}"
        val_accuracy = test_accuracy = None
    finally:
        # The process goes on to build other models: they must not inherit this one's policy.
        keras.config.set_dtype_policy(caller_policy)
    # The last epoch's number, not a count of them: a resumed fit starts after the saved ones.
    return TrainResult(val_accuracy, test_accuracy, time.perf_counter() - begin, status,
                       history.epoch[-1] + 1 if history.epoch else 0)


def learning_rate_schedule(config, steps_per_epoch):
    """The learning rate at each step (a Keras schedule) of `config.lr_schedule`.

    "sgdr" (Section 4.1; Loshchilov & Hutter's Eq. 5), with T_0 = sgdr_first_epochs epochs and
    each period T_mult times the last:
        eta_t = eta_max * (1 + cos(pi * T_cur / T_i)) / 2
    "warmup_cosine": over the first W = round(warmup_fraction * T) of the T training steps
        eta_t = eta_max * t / W,
    then eta_t = eta_max * (1 + cos(pi * (t - W) / (T - W))) / 2, ending at 0.
    """
    if config.lr_schedule == "sgdr":
        return keras.optimizers.schedules.CosineDecayRestarts(
            config.learning_rate, first_decay_steps=config.sgdr_first_epochs * steps_per_epoch,
            t_mul=config.sgdr_t_mul)
    total = max(1, config.epochs * steps_per_epoch)
    warmup = round(config.warmup_fraction * total)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.learning_rate, decay_steps=max(1, total - warmup),
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)


def loss_function(label_smoothing):
    """Cross-entropy of integer labels and logits; with `label_smoothing` e, against the
    target (1 - e) * one_hot(label) + e / classes."""
    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    smoothed = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                    label_smoothing=label_smoothing)

    def smoothed_cross_entropy(labels, logits):  # (B,) or (B, 1) int, (B, classes) float32
        labels = keras.ops.reshape(keras.ops.cast(labels, "int32"), (-1,))
        return smoothed(keras.ops.one_hot(labels, keras.ops.shape(logits)[-1]), logits)
    return smoothed_cross_entropy


def recalibrate_batchnorm(model, batches, num_batches):
    """Recompute every BatchNorm layer's moving mean and variance as the plain average of its
    batch statistics over the first `num_batches` of `batches`, weights unchanged (as one-shot
    NAS does for a subnetwork, e.g. SPOS, Once-for-All). A layer updates
        moving = momentum * moving + (1 - momentum) * batch,
    so momentum i / (i + 1) at the i-th batch (from 0) leaves the mean of the i + 1 seen."""
    norms = [layer for layer in _sublayers(model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    kept = [layer.momentum for layer in norms]
    try:
        for i, (images, _) in enumerate(batches.take(num_batches)):
            for layer in norms:
                layer.momentum = i / (i + 1)
            model(images, training=True)
    finally:
        for layer, momentum in zip(norms, kept):
            layer.momentum = momentum


def _sublayers(layer):
    """`layer` and every layer inside it, depth first (op layers are Sequentials)."""
    yield layer
    for inner in getattr(layer, "layers", ()):
        yield from _sublayers(inner)


def _accuracy(model, batches):
    if batches.cardinality() == 0:  # an empty split (the final network's: no validation left)
        return None
    return float(model.evaluate(batches, verbose=0, return_dict=True)["accuracy"])


def arch_path(model_path):
    """Where the architecture of a saved model lies: PATH.json for PATH.keras."""
    return f"{str(model_path)[:-len('.keras')]}.json"


def save_model(model, arch, path):
    """Save `model` (built from `arch`) to `path` (.keras) and `arch` beside it, both
    atomically; the architecture first, so that a model file never lacks it."""
    arch_json.save(arch, arch_path(path))
    guard.replace_atomically(path, model.save)


def load_model(path):
    """(Keras model, the cells.Arch it was built from) of a model saved by `save_model`;
    ValueError naming the file for anything else."""
    if not str(path).endswith(".keras"):
        raise ValueError(f"{path}: not a .keras model file")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such model file")
    if not os.path.isfile(arch_path(path)):
        raise ValueError(f"{path}: no architecture beside it ({arch_path(path)}); train.py "
                         f"--out and search.py write one with every model")
    arch = arch_json.load(arch_path(path))
    try:
        model = keras.models.load_model(path, compile=False, custom_objects={
            "memnas>StridedPointwise": pointwise.StridedPointwise})
    except Exception as e:  # Keras raises several types for a file that is not a model
        raise ValueError(f"{path}: not a readable Keras model "
                         f"({guard.first_line(e, type(e).__name__)})") from None
    return model, arch


class Inheriting:
    """A `start` for `train`: `arch` built with the weights it shares with a trained parent
    (inherit.inherit), at `config`'s width and BatchNorm momentum. Checked when made, so that
    a parent of another width or template is a ValueError naming the rule before any
    training; `report` (inherit.Inheritance) is set once it has run."""

    def __init__(self, parent_model, parent_arch, arch, config, data):
        inherit.check_parent(parent_model, parent_arch, arch, config.filters, data.num_classes,
                             data.input_shape)
        self.args = (parent_model, parent_arch, arch, config.filters, data.num_classes,
                     data.input_shape, config.bn_momentum)
        self.report = None

    def __call__(self):
        model, self.report = inherit.inherit(*self.args)
        return model


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("train.py"):
        if FLAGS.arch is None:
            raise ValueError("--arch is required: a JSON architecture file (see examples/)")
        arch = arch_json.load(FLAGS.arch)
        config = recipes.recipe_config(
            FLAGS, filters=FLAGS.filters, seed=FLAGS.seed, verbose=FLAGS.verbose,
            run_eagerly=FLAGS.run_eagerly, mixed_precision=FLAGS.mixed_precision,
            jit_compile="auto" if FLAGS.jit_compile is None else FLAGS.jit_compile)
        if config.epochs == 0 and FLAGS.init is None:
            raise ValueError("--epochs=0 only evaluates, and needs --init (a trained parent)")
        parent = load_model(FLAGS.init) if FLAGS.init else None
        data = inputs.load_data(FLAGS.dataset, FLAGS.data_dir, FLAGS.val_fraction,
                                FLAGS.train_examples, FLAGS.seed, FLAGS.input_size)
        start = None
        if parent is not None:
            try:
                start = Inheriting(*parent, arch, config, data)
            except ValueError as e:
                raise ValueError(f"--init={FLAGS.init}: {e}") from None
        if FLAGS.out:
            os.makedirs(FLAGS.out, exist_ok=True)
    print(f"{data.name}: {data.num_train} training, {data.num_val} validation, "
          f"{data.num_test} test examples of {data.input_shape}, {data.num_classes} classes")
    model_path = os.path.join(FLAGS.out, "model.keras") if FLAGS.out else None
    result = train(arch, data, config, model_path=model_path, evaluate_test=True, start=start)
    if start is not None and start.report is not None:
        print(f"inherited from {FLAGS.init}: {start.report.describe()}")
    if FLAGS.out:
        report = dict(arch=FLAGS.arch, init=FLAGS.init, dataset=FLAGS.dataset,
                      data_dir=FLAGS.data_dir, val_fraction=FLAGS.val_fraction,
                      train_examples=FLAGS.train_examples, num_train=data.num_train,
                      num_val=data.num_val, num_test=data.num_test,
                      mean=data.mean.tolist(), std=data.std.tolist(),
                      config=dataclasses.asdict(config), **dataclasses.asdict(result),
                      model=model_path if result.status == "ok" else None)
        with open(os.path.join(FLAGS.out, "result.json"), "w") as f:
            json.dump(report, f, indent=1)
    if result.status != "ok":
        raise SystemExit(f"train.py: training failed after {result.epochs} epochs: "
                         f"{result.status}")
    print(f"validation accuracy: {result.val_accuracy:.4f}")
    print(f"test accuracy: {result.test_accuracy:.4f}")
    print(f"{result.epochs} epochs in {result.seconds:.1f} s"
          + (f"; wrote {FLAGS.out}/result.json, model.keras and model.json" if FLAGS.out
             else ""))


if __name__ == "__main__":
    define_flags()
    app.run(main)
