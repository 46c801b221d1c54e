"""export.py: a network as float32 and int8 TFLite files taking raw pixels, what TFLite-Micro
allocates for it, lifetime.py's prediction of both, and the int8 model as a C array for firmware
(firmware.py). Tiny networks (width 4, 16x16 images): a conversion still costs seconds, so each
file here is converted once."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import assert_one_line_error, c_array, run_mains
import arch_json
import cells
import export
import firmware
import graph
import lifetime
import litert
import network
import pipelines
import tflite_order
import tflm

THREE_CELLS = "examples/three_cells.json"  # a block whose optimal order beats the program order
SHAPE, CLASSES, WIDTH = (16, 16, 3), 4, 4


# export.py's bad command lines ({model}: export_runs' trained model) and the one line each
# prints.
BAD_CASES = [(["--out=x"], "export.py: --arch is required"),
             ([f"--arch={THREE_CELLS}", "--out=x", "--representative=0"],
              "export.py: --representative must be at least 1, got 0"),
             (["--arch=examples/figure1b.json", "--model={model}", "--out=x"],
              "export.py: --model={model}: its architecture is not --arch "
              "examples/figure1b.json")]


@pytest.fixture(scope="module")
def export_runs(tiny_npz, tmp_path_factory):
    """THREE_CELLS trained for an epoch on the tiny colour problem, then export.py run on it
    with --schedule=optimal and with each of BAD_CASES, through its main in one process (one
    TensorFlow import): (the folder, the trained model, the results in that order)."""
    import inputs
    import recipes
    import train
    folder = tmp_path_factory.mktemp("export")
    data = inputs.load_data(f"npz:{tiny_npz}", val_fraction=0.25)
    os.makedirs(folder / "trained")
    model = folder / "trained" / "model.keras"
    trained = train.train(arch_json.load(THREE_CELLS), data, recipes.TrainConfig(
        epochs=1, batch_size=16, filters=WIDTH, verbose=0, run_eagerly=True),
        model_path=str(model))
    assert trained.status == "ok"
    export = [f"--arch={THREE_CELLS}", f"--dataset=npz:{tiny_npz}", "--val_fraction=0.25",
              "--json", "--schedule=optimal", f"--model={model}", "--representative=16",
              f"--out={folder / 'deployed'}"]
    bad = [[arg.format(model=model) for arg in args] for args, _ in BAD_CASES]
    return folder, model, run_mains("export.py", export, *bad)


@pytest.fixture(scope="module")
def exported(export_runs):
    """export_runs' export of the trained network: (its JSON line, its output directory)."""
    folder, _, (result, *_) = export_runs
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), folder / "deployed"


@pytest.mark.slow
def test_a_trained_network_exports_and_its_int8_model_computes_what_keras_does(
        exported, tiny_npz):
    import inputs
    import train
    measured, folder = exported
    assert measured["trained"] and measured["filters"] == WIDTH
    for kind in ("float32", "int8"):
        assert os.path.getsize(folder / f"model_{kind}.tflite") == \
            measured[f"tflite_{kind}_bytes"]
    assert measured == json.loads((folder / "export.json").read_text())
    # int8 quantization changes at most 2 of the 16 test images' predicted class.
    assert abs(measured["int8_test_accuracy"] - measured["float_test_accuracy"]) <= 2 / 16
    data = inputs.load_data(f"npz:{tiny_npz}", val_fraction=0.25)
    normalized = np.concatenate([x.numpy()
                                 for x, _ in pipelines.eval_pipeline(data, data.test, 16)])
    pixels = np.concatenate([x.numpy() for x, _ in data.test.batch(16)])
    model, _ = train.load_model(str(folder.parent / "trained" / "model.keras"))
    keras_classes = model.predict(normalized, verbose=0).argmax(-1)
    # The files take raw pixels (the normalization is inside them): the int8 input is
    # pixel - 128, and litert.predict quantizes with the file's own scale and zero point.
    from ai_edge_litert.interpreter import Interpreter
    with open(folder / "model_int8.tflite", "rb") as f:
        source = Interpreter(model_content=f.read()).get_input_details()[0]
    assert source["dtype"] == np.int8 and source["quantization"] == (1.0, -128)
    classes = {}
    for kind in ("float32", "int8"):
        with open(folder / f"model_{kind}.tflite", "rb") as f:
            classes[kind] = litert.predict(f.read(), pixels.astype(np.float32))
    # The float32 file computes Keras's function (a near tie may flip one class in float
    # rounding); int8 changes at most 2 of the 16 predictions.
    assert (classes["float32"] == keras_classes).sum() >= 15
    assert (classes["int8"] == keras_classes).sum() >= 14
    # Parameters as stored: int8 weights and int32 biases, tflm.int8_param_bytes within 2%.
    assert abs(measured["analytic_param_bytes"] / measured["param_bytes"] - 1) <= 0.02


@pytest.mark.slow
def test_the_optimal_order_and_its_offline_plan_are_what_tflm_allocates(exported):
    measured, folder = exported
    arch = arch_json.load(THREE_CELLS)
    # Predicted, and checked by hand in lifetime's tests: strict and paper 5,120 B; optimal
    # 4,096 B; TFLM's own planner 6,144 B in the converter's order, the offline plan 4,864 B.
    assert (measured["strict_activation_bytes"], measured["optimal_activation_bytes"]) == (
        lifetime.arch_memory(arch, WIDTH, 1, "strict", SHAPE, CLASSES).activation_bytes,
        lifetime.arch_memory(arch, WIDTH, 1, "optimal", SHAPE, CLASSES).activation_bytes)
    assert measured["schedule"] == "optimal"
    # The normalization's tensors (the raw image, x - mean) fit where the network leaves room:
    # the prediction with them is the network's, here and for the optimal order.
    deployed = export.deployed_graph(arch, WIDTH, SHAPE, CLASSES)
    assert measured["converter_order_head_bytes"] == tflm.planned_arena(deployed, 1) == \
        lifetime.arch_memory(arch, WIDTH, 1, "tflm", SHAPE, CLASSES).activation_bytes
    assert measured["planned_arena_bytes"] == export.optimal_plan(arch, WIDTH, SHAPE, CLASSES)[1]
    assert measured["tflm_arena_head_bytes"] == measured["planned_arena_bytes"]
    assert measured["tflm_arena_head_bytes"] < measured["converter_order_head_bytes"]
    # The reordered, offline-planned file computes what the same file in program order does:
    # no two tensors live at once share memory.
    from tflite_micro.python.tflite_micro import runtime
    with open(folder / "model_int8.tflite", "rb") as f:
        optimal = f.read()
    program = tflite_order.reorder(optimal, [n.name for n in deployed[1:]])
    image = np.random.default_rng(0).integers(-128, 128, (1, *SHAPE), dtype=np.int8)
    outputs = []
    for tflite in (optimal, program):
        interpreter = runtime.Interpreter.from_bytes(tflite, arena_size=1 << 20)
        interpreter.set_input(image, 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0))
    np.testing.assert_array_equal(*outputs)


@pytest.mark.slow
@pytest.mark.parametrize("ops, gap", [(("conv3x3", "conv3x3"), False),
                                      (("dwconv3x3", "maxpool3x3"), True)])
def test_strict_is_the_tflm_head_unless_its_planner_leaves_a_gap(ops, gap, tmp_path):
    # Untrained round-0 networks (memory does not depend on the weights). Where TFLM's greedy
    # planner fits its buffers into strict's peak the two are equal; for dwconv3x3 +
    # maxpool3x3 it leaves a gap (4 buffers where 3 are live, lifetime's hand-worked test), and
    # the tflm schedule, its planner replayed, predicts that.
    import keras
    arch = cells.one_cell(*ops)
    keras.utils.set_random_seed(0)
    model = network.build_model(arch, WIDTH, CLASSES, SHAPE)
    prediction = export.predicted(
        lambda s: lifetime.arch_memory(arch, WIDTH, 1, s, SHAPE, CLASSES),
        graph.arch_graph(arch, WIDTH, SHAPE, CLASSES, primitives=True))
    images = np.random.default_rng(0).normal(size=(8, *SHAPE)).astype(np.float32)
    measured = export.measure(model, prediction, images, str(tmp_path))
    head = measured["tflm_arena_head_bytes"]
    assert head == measured["planned_arena_bytes"]
    assert (measured["strict_activation_bytes"] < head) == gap
    assert measured["strict_activation_bytes"] == 3 * 16 * 16 * WIDTH  # 3 tensors of block 1
    assert abs(measured["analytic_param_bytes"] / measured["param_bytes"] - 1) <= 0.02


@pytest.mark.slow
def test_bad_input_is_one_line(export_runs):
    _, model, (_, *results) = export_runs
    for result, (_, expected) in zip(results, BAD_CASES):
        assert_one_line_error(result, expected.format(model=model))


CHECK_MAIN = r"""
#include <cstdio>
#include "model_data.h"
int main() {
  unsigned long sum = 0;
  for (unsigned int i = 0; i < g_model_len; ++i) sum += g_model[i];
  std::printf("%u %lu %d %d\n", g_model_len, sum,
              static_cast<int>(reinterpret_cast<unsigned long>(g_model) % 16), kTensorArenaSize);
}
"""


def test_the_c_array_is_the_model_byte_for_byte_and_compiles_with_its_header(tmp_path):
    model = bytes(np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8))
    source_path, header_path = firmware.write(model, 4096, str(tmp_path))
    source, header = open(source_path).read(), open(header_path).read()
    assert c_array(source) == (model, len(model))
    assert f"alignas({tflm.TFLM_ALIGNMENT}) const unsigned char {firmware.MODEL_ARRAY}[]" in source
    assert f'#include "{firmware.HEADER}"' in source  # gives the consts external linkage
    # The header declares what the source defines, and the arena size.
    assert f"extern const unsigned char {firmware.MODEL_ARRAY}[];" in header
    assert f"extern const unsigned int {firmware.MODEL_LENGTH};" in header
    assert f"constexpr int {firmware.ARENA_SIZE} = 4096;" in header
    with pytest.raises(ValueError, match="arena: 4100 B is not a multiple of 16"):
        firmware.write(model, 4100, str(tmp_path))
    compiler = shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (c++) on this machine")
    (tmp_path / "check.cc").write_text(CHECK_MAIN)
    subprocess.run([compiler, "-std=c++11", "-Wall", "-Werror", "-o", str(tmp_path / "check"),
                    source_path, str(tmp_path / "check.cc")], check=True, cwd=tmp_path)
    printed = subprocess.run([str(tmp_path / "check")], capture_output=True, text=True,
                             check=True).stdout.split()
    assert printed == [str(len(model)), str(sum(model)), "0", "4096"]


@pytest.mark.slow
def test_the_exported_c_array_is_the_int8_file_and_tflm_runs_it_in_its_arena(exported):
    measured, folder = exported
    int8 = (folder / "model_int8.tflite").read_bytes()
    assert c_array((folder / firmware.SOURCE).read_text()) == (int8, len(int8))
    arena = measured["tensor_arena_bytes"]
    assert f"constexpr int {firmware.ARENA_SIZE} = {arena};" in \
        (folder / firmware.HEADER).read_text()
    # The smallest arena TFLM runs the model in: at least what it reports allocated (head +
    # tail), and 16 B less is too small.
    assert arena % 16 == 0 and arena >= measured["tflm_arena_total_bytes"]
    assert firmware._runs(str(folder / "model_int8.tflite"), arena)
    assert not firmware._runs(str(folder / "model_int8.tflite"), arena - 16)
