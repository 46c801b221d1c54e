"""Deployment: a network as TFLite files, and its memory as TensorFlow Lite Micro allocates it.

    python export.py --arch=A.json [--model=M.keras] --filters=16 --dataset=npz:PATH --out=DIR

writes DIR/model_float32.tflite and DIR/model_int8.tflite (full-integer post-training
quantization: int8 weights, int32 biases, int8 input and output, calibrated on a seeded sample
of training images), and the int8 model as a C array for TFLite-Micro firmware,
DIR/model_data.cc and model_data.h with the arena to allocate (firmware.py); runs the int8
model in TFLite-Micro and prints what it allocates beside what lifetime.py predicts (with
--json, as one JSON line; DIR/export.json either way):

* `tflm_arena_head_bytes`: the arena's head, TFLM's plan of the feature maps (its greedy memory
  planner, tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc); the number r models.
  `tflm_arena_tail_bytes` is the interpreter's own state (tensor structs, op data), not feature
  maps.
* `strict_activation_bytes`, `paper_activation_bytes`, `optimal_activation_bytes`: lifetime.py
  at 1 byte per value, the int8 size, of the network (network.build_model, what the search
  measures); `planned_arena_bytes`: the prediction of the head (lifetime.py --schedule=tflm,
  TFLM's planner replayed), with the normalization's tensors (`deployed_graph`).
* `tensor_arena_bytes`: the arena firmware gives TFLM (model_data.h's kTensorArenaSize,
  firmware.smallest_arena): head + tail, or more where TFLM's planner needs it while it plans.
* `param_bytes`: the .tflite file's constant tensors (int8 weights, int32 biases, and small
  constants such as the pooling axes); `analytic_param_bytes`: tflm.int8_param_bytes.
* `--schedule=optimal`: the operators run in lifetime.arch_order's memory-optimal order and the
  arena is laid out by an offline plan (tflm.best_plan) that TFLM follows
  (tflite_order.reorder); `converter_order_head_bytes` is the head before.
* With `--model` (a trained .keras file with its architecture beside it, as train.py and
  search.py write them): `float_test_accuracy` (Keras) and `int8_test_accuracy` (the int8 file
  run by LiteRT on the test split), and `int8_agreement`, the fraction of test images on which
  the two predict the same class. Without it an untrained network is measured, and says so.

The exported model takes the raw image: a layer (`deployable`) normalizes it as training did
(pipelines.normalize with the training split's mean and std, pixel units) before the stem. The
int8 model's input is int8 with scale 1 and zero point -128: value = pixel - 128
(firmware.pixel_input). Converting and running the files is litert.py's.
"""
import dataclasses
import json
import os

from absl import app
from absl import flags
import numpy as np

import arch_json
import graph
import guard
import inputs
import lifetime
import litert
import network
import pipelines
import firmware
import tflite_order
import tflm


def define_flags():
    flags.DEFINE_string("arch", None, "Architecture JSON file (see examples/).")
    flags.DEFINE_string("model", None, "Trained .keras model of --arch (train.py --out, or a "
                        "search's final/model.keras); without it an untrained network.")
    flags.DEFINE_integer("filters", 64, "Filters of the first block (w); ignored with --model.")
    flags.DEFINE_string("dataset", "cifar10", inputs.DATASET_HELP)
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory.")
    flags.DEFINE_integer("input_size", None, inputs.INPUT_SIZE_HELP)
    flags.DEFINE_float("val_fraction", 0.1, "As in training: the normalization statistics "
                       "come from the training split.")
    flags.DEFINE_integer("train_examples", None, "As in training (None: all).")
    flags.DEFINE_integer("representative", 200, "Training images that calibrate the int8 "
                         "quantization (seeded sample).")
    flags.DEFINE_integer("seed", 0, "Seed of the untrained network and of the calibration set.")
    flags.DEFINE_enum("schedule", "strict", ORDERS, "Operator order of the .tflite files: "
                      "strict, the converter's (the program order), or optimal, lifetime.py's "
                      "memory-optimal order (the flatbuffer's operator list rewritten).")
    flags.DEFINE_string("out", None, "Output directory.")
    flags.DEFINE_bool("json", False, "Print the measurements as one JSON line.")


ORDERS = ("strict", "optimal")
NORMALIZE = "normalize"  # the exported model's normalization layer


@dataclasses.dataclass(frozen=True)
class Exported:
    """What export() measured (bytes; accuracies None without a trained model)."""
    trained: bool
    filters: int
    tflite_float32_bytes: int
    tflite_int8_bytes: int
    tflm_arena_head_bytes: int
    tflm_arena_tail_bytes: int
    tflm_arena_total_bytes: int
    strict_activation_bytes: int
    paper_activation_bytes: int
    optimal_activation_bytes: int  # None past orders.MAX_STATES
    planned_arena_bytes: int       # lifetime.py --schedule=tflm: the head, predicted
    param_bytes: int
    analytic_param_bytes: int      # tflm.int8_param_bytes
    schedule: str = "strict"       # the operator order of the files written
    converter_order_head_bytes: int = None  # with --schedule=optimal: the head before reordering
    float_test_accuracy: float = None
    int8_test_accuracy: float = None
    int8_agreement: float = None   # test images on which int8 and Keras predict one class
    tensor_arena_bytes: int = None  # firmware.ARENA_SIZE: the arena firmware allocates


# ---------------------------------------------------------------------------------------------
# Benchmarks: many networks measured, resumably
# ---------------------------------------------------------------------------------------------

class Measured:
    """A benchmark's TFLM measurements of many networks, resumable: OUT_DIR/measured.jsonl
    holds a row per network converted (`done`, by name), so that a rerun or a killed run
    converts nothing twice. The int8 models are calibrated on `count` seeded random images of
    `input_shape` (`representative`)."""

    def __init__(self, out_dir, input_shape, seed, count=32):
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir, self.path = out_dir, os.path.join(out_dir, "measured.jsonl")
        self.done = {row["name"]: row for row in guard.read_jsonl(self.path) if row.get("name")}
        self.representative = np.random.default_rng(seed).normal(
            size=(count, *input_shape)).astype(np.float32)

    def network(self, name, build, log=print):
        """The measurements of the network `name` (`build()` makes its Keras model, seeded 0),
        from `done` or converted now into OUT_DIR/NAME/ and appended. A model TFLite or TFLM
        cannot take is a row with its error, not fatal. No predictions in them: the caller
        adds its own, so lifetime.py can change."""
        if name in self.done:
            return self.done[name]
        import keras
        keras.utils.set_random_seed(0)
        folder = os.path.join(self.out_dir, "".join(c if c.isalnum() else "_" for c in name))
        os.makedirs(folder, exist_ok=True)
        log(f"converting {name}")
        try:
            row = dict(name=name, **measure(build(), {}, self.representative, folder))
        except RuntimeError as e:  # a model TFLite or TFLM cannot take: reported, not fatal
            row = dict(name=name, error=str(e).splitlines()[0])
        guard.append_jsonl(self.path, row)
        self.done[name] = row
        return row


# ---------------------------------------------------------------------------------------------
# The whole export
# ---------------------------------------------------------------------------------------------

def _arrays(split, keep=None):
    """(raw images as float32 pixels, labels) of a split as numpy arrays; with `keep` (sorted
    indices), only those examples, so that a sample of a large split is never held whole."""
    images, labels, begin = [], [], 0
    for x, y in split.batch(256):
        rows = slice(None) if keep is None else keep[(keep >= begin) &
                                                      (keep < begin + len(y))] - begin
        images.append(x.numpy()[rows].astype(np.float32))
        labels.append(y.numpy()[rows])
        begin += len(y)
    return np.concatenate(images), np.concatenate(labels)


def representative_set(data, n, seed):
    """A seeded sample of n raw training images (fewer if the split is smaller): what calibrates
    a `deployable` model."""
    pick = np.random.default_rng(seed).permutation(data.num_train)[:n]
    return _arrays(data.train, np.sort(pick))[0]


def deployable(model, mean, std):
    """`model` (network.build_model's, which takes normalized images) behind a layer named
    NORMALIZE that normalizes raw pixels as training did, (x - mean) / std per channel
    (pipelines.normalize, `mean` and `std` in pixel units: inputs.Data's): the model export()
    converts, whose input is the raw image. Its own memory is `normalization_part`'s."""
    import keras
    image = keras.Input(model.input_shape[1:], name="image")
    normalized = keras.layers.Lambda(lambda x: pipelines.normalize(x, mean, std),
                                     name=NORMALIZE)(image)
    return keras.Model(image, model(normalized), name="deployed")


def normalization_part(input_shape):
    """The tensors TFLite makes of `deployable`'s normalization, as a part for graph.join: the
    raw image (the model's input), x - mean (SUB), and its product with 1 / std (MUL: the
    converter's form of the division), which the stem reads. Its constants (2 x C values) are
    not counted as parameters."""
    shape = tuple(input_shape)
    return [graph.Node("image", shape), graph.Node(f"{NORMALIZE}/0", shape, (0,)),
            graph.Node(NORMALIZE, shape, (1,))], 2


def deployed_graph(arch, filters, input_shape=(32, 32, 3), num_classes=10):
    """The tensors (primitives) of the exported model: `normalization_part`, then the network's
    (graph.arch_graph) reading its output."""
    nodes = graph.arch_graph(arch, filters, input_shape, num_classes, primitives=True)
    return graph.join([normalization_part(input_shape), (nodes, len(nodes) - 1)])


def optimal_plan(arch, filters, input_shape=(32, 32, 3), num_classes=10, normalized=False):
    """(node names in lifetime.arch_order's memory-optimal order, the arena bytes of
    tflm.best_plan for that order at 1 byte per value): what tflite_order.reorder writes and
    what TFLM should then allocate. `normalized`: of the `deployable` model, its normalization
    run first."""
    order = [name for part in lifetime.arch_order(arch, filters, input_shape, num_classes)
             for name in part]
    nodes = graph.arch_graph(arch, filters, input_shape, num_classes, primitives=True)
    if normalized:
        nodes = deployed_graph(arch, filters, input_shape, num_classes)
        order = [node.name for node in normalization_part(input_shape)[0][1:]] + order
    index = {node.name: k for k, node in enumerate(nodes)}
    return order, tflm.planned_arena(nodes, 1, [0] + [index[name] for name in order],
                                         best=True)


def predicted(memory_of, nodes):
    """What lifetime.py predicts at 1 byte per value: `memory_of(schedule)` gives a
    lifetime.Memory, `nodes` are the network's tensors (primitives) for the int8 parameters."""
    out = {}
    for schedule in ("paper", "strict", "optimal"):
        try:
            out[f"{schedule}_activation_bytes"] = memory_of(schedule).activation_bytes
        except ValueError:  # optimal past its search budget
            out[f"{schedule}_activation_bytes"] = None
    return dict(out, planned_arena_bytes=memory_of("tflm").activation_bytes,
                analytic_param_bytes=tflm.int8_param_bytes(nodes))


def measure(model, prediction, representative, out_dir, test=None, order=None, pixels=False):
    """Convert a Keras model to out_dir's two .tflite files and measure them: a dict of
    Exported's fields but `trained`, `filters` and `tensor_arena_bytes`. `prediction`:
    `predicted(...)`; `representative` and `test` (or None): images as `model` takes them (and
    labels); `order`: node names to run the operators in (tflite_order.reorder), None for the
    converter's order; `pixels`: as in `convert`."""
    float_path, int8_path = litert.convert(model, representative, out_dir, pixels)
    with open(float_path, "rb") as f:
        float32 = f.read()
    with open(int8_path, "rb") as f:
        int8 = f.read()
    measured = dict(prediction, schedule="strict")
    if order is not None:
        measured.update(schedule="optimal",
                        converter_order_head_bytes=litert.tflm_arena(int8)["head"])
        float32, int8 = (tflite_order.reorder(data, order) for data in (float32, int8))
        for path, data in ((float_path, float32), (int8_path, int8)):
            with open(path, "wb") as f:
                f.write(data)
    arena = litert.tflm_arena(int8)
    measured.update(
        tflite_float32_bytes=len(float32), tflite_int8_bytes=len(int8),
        tflm_arena_head_bytes=arena["head"], tflm_arena_tail_bytes=arena["tail"],
        tflm_arena_total_bytes=arena["total"], param_bytes=litert.constant_bytes(int8))
    if test is not None:
        images, labels = test
        predicted = model.predict(images, batch_size=256, verbose=0).argmax(-1)
        predicted_int8 = litert.predict(int8, images)
        measured.update(float_test_accuracy=float((predicted == labels).mean()),
                        int8_test_accuracy=float((predicted_int8 == labels).mean()),
                        int8_agreement=float((predicted_int8 == predicted).mean()))
    return measured


def export(arch, data, out_dir, filters, model=None, representative=200, seed=0,
           schedule="strict", log=print):
    """Convert `model` (or, if None, `arch` built untrained with `seed`), normalization included
    (`deployable`), to out_dir's two .tflite files, their operators in `schedule`'s order,
    measure them in TFLM and against lifetime.py, and write out_dir/export.json and the int8
    model for firmware (out_dir/model_data.cc and .h: firmware.write)."""
    import keras
    trained = model is not None
    if not trained:
        keras.utils.set_random_seed(seed)
        model = network.build_model(arch, filters, data.num_classes, data.input_shape)
    os.makedirs(out_dir, exist_ok=True)
    log(f"converting ({'trained' if trained else 'untrained'} network, width {filters})")
    if schedule not in ORDERS:
        raise ValueError(f"schedule: {schedule!r} is not one of {', '.join(ORDERS)}")
    shape, classes = data.input_shape, data.num_classes
    prediction = predicted(
        lambda s: lifetime.arch_memory(arch, filters, 1, s, shape, classes),
        graph.arch_graph(arch, filters, shape, classes, primitives=True))
    # The head holds the normalization's tensors too: the network's prediction replaced.
    prediction["planned_arena_bytes"] = tflm.planned_arena(
        deployed_graph(arch, filters, shape, classes), 1)
    order = None
    if schedule == "optimal":
        order, prediction["planned_arena_bytes"] = optimal_plan(arch, filters, shape, classes,
                                                                normalized=True)
    measured = measure(deployable(model, data.mean, data.std), prediction,
                       representative_set(data, representative, seed), out_dir,
                       _arrays(data.test) if trained else None, order, pixels=True)
    int8_path = os.path.join(out_dir, "model_int8.tflite")
    arena = firmware.smallest_arena(int8_path, measured["tflm_arena_total_bytes"])
    with open(int8_path, "rb") as f:
        firmware.write(f.read(), arena, out_dir)
    log(f"wrote {firmware.SOURCE} and {firmware.HEADER}: {firmware.MODEL_ARRAY} "
        f"{measured['tflite_int8_bytes']:,} B, {firmware.ARENA_SIZE} {arena:,} B")
    result = Exported(trained=trained, filters=filters, tensor_arena_bytes=arena, **measured)
    with open(os.path.join(out_dir, "export.json"), "w") as f:
        json.dump(dataclasses.asdict(result), f, indent=1)
    return result


def _filters_of(model):
    """Width w of a model built by network.build_model: the stem's filters."""
    return model.get_layer("stem").layers[0].filters


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("export.py"):
        for flag in ("arch", "out"):
            if getattr(FLAGS, flag) is None:
                raise ValueError(f"--{flag} is required")
        if FLAGS.representative < 1:
            raise ValueError(f"--representative must be at least 1, got {FLAGS.representative}")
        arch = arch_json.load(FLAGS.arch)
        model, filters = None, FLAGS.filters
        if FLAGS.model is not None:
            import train
            model, model_arch = train.load_model(FLAGS.model)
            if arch_json.key(model_arch) != arch_json.key(arch):
                raise ValueError(f"--model={FLAGS.model}: its architecture is not --arch "
                                 f"{FLAGS.arch}")
            filters = _filters_of(model)
        data = inputs.load_data(FLAGS.dataset, FLAGS.data_dir, FLAGS.val_fraction,
                                FLAGS.train_examples, FLAGS.seed, FLAGS.input_size)
    with guard.one_line_errors("export.py", (ValueError, RuntimeError)):
        result = export(arch, data, FLAGS.out, filters, model, FLAGS.representative,
                        FLAGS.seed, FLAGS.schedule, log=(lambda *_: None) if FLAGS.json else print)
    if FLAGS.json:
        print(json.dumps(dataclasses.asdict(result)))
        return
    for name, value in dataclasses.asdict(result).items():
        print(f"{name:28s} {value}")
    if not result.trained:
        print("untrained network (no --model): memory only, no accuracy")


if __name__ == "__main__":
    define_flags()
    app.run(main)
