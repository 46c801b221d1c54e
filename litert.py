"""TFLite files: a Keras model converted to float32 and full-int8 .tflite files, and a .tflite
file run by LiteRT (its predictions) and by TensorFlow Lite Micro (the arena it allocates).

Conversion runs in a child process: TFLiteConverter.convert() leaks memory on every call in
TF 2.21, which a search exporting many networks would otherwise accumulate. The Keras 3 path is
model.export(format="tf_saved_model") + TFLiteConverter.from_saved_model; from_keras_model falls
back to legacy Keras 2 code. TensorFlow Lite Micro has no Python getter for its arena:
print_allocations() writes it to C's stderr, which ``tflm_arena`` captures.
"""

import contextlib
import multiprocessing
import os
import re
import tempfile

import numpy as np

import firmware
import tflite_order

ARENA_LINE = re.compile(r"Arena allocation (head|tail|total) (\d+) bytes")
FIRST_ARENA = 1 << 24  # bytes; doubled while TFLM says it is too small
LAST_ARENA = 1 << 31


# ---------------------------------------------------------------------------------------------
# Conversion (in a child process)
# ---------------------------------------------------------------------------------------------

def _convert(saved_model, representative, float_path, int8_path):
    """Child process: the SavedModel as float32 and full-int8 .tflite files."""
    import tensorflow as tf
    images = np.load(representative)  # (N, H, W, C) float32, as the model takes them

    def samples():
        for image in images:
            yield [image[None]]

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    with open(float_path, "wb") as f:
        f.write(converter.convert())
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with open(int8_path, "wb") as f:
        f.write(converter.convert())


def convert(model, representative, out_dir, pixels=False):
    """Write out_dir/model_float32.tflite and model_int8.tflite of a Keras model, quantized
    with `representative` (N, H, W, C) images as the model takes them; with `pixels` (a
    `deployable` model) the int8 input is declared as raw pixels (firmware.pixel_input).
    Returns the two paths."""
    paths = [os.path.join(out_dir, f"model_{kind}.tflite") for kind in ("float32", "int8")]
    with tempfile.TemporaryDirectory() as tmp:
        saved_model = os.path.join(tmp, "saved_model")
        model.export(saved_model, format="tf_saved_model", verbose=False)
        samples = os.path.join(tmp, "representative.npy")
        np.save(samples, representative.astype(np.float32))
        child = multiprocessing.get_context("spawn").Process(
            target=_convert, args=(saved_model, samples, *paths))
        child.start()
        child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"TFLite conversion failed (child process exit {child.exitcode})")
    if pixels:
        with open(paths[1], "rb") as f:
            int8 = firmware.pixel_input(f.read())
        with open(paths[1], "wb") as f:
            f.write(int8)
    return paths


# ---------------------------------------------------------------------------------------------
# Measuring a .tflite file
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _c_stderr(sink):
    """Redirect file descriptor 2 (C's stderr, where TFLM prints) into the file `sink`."""
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tflm_arena(tflite):
    """{"head", "tail", "total"}: bytes TFLite-Micro's arena holds for a model (bytes of a
    .tflite file). TFLM has no Python getter: print_allocations() writes them to C's stderr."""
    from tflite_micro.python.tflite_micro import runtime
    arena = FIRST_ARENA
    while True:
        with tempfile.TemporaryFile("w+") as sink:
            with _c_stderr(sink):
                try:
                    interpreter = runtime.Interpreter.from_bytes(tflite, arena_size=arena)
                    interpreter.print_allocations()
                    failed = None
                except RuntimeError as e:
                    failed = e
            sink.seek(0)
            printed = sink.read()
        if failed is None:
            found = dict((kind, int(n)) for kind, n in ARENA_LINE.findall(printed))
            if set(found) != {"head", "tail", "total"}:
                raise RuntimeError(f"TFLM printed no arena sizes:\n{printed[-2000:]}")
            return found
        if arena >= LAST_ARENA or "arena" not in printed.lower():
            raise RuntimeError(f"TFLM could not load the model ({failed}):\n{printed[-2000:]}")
        arena *= 2


def constant_bytes(tflite):
    """Bytes of a .tflite file's constant tensors: its weights, biases and other constants,
    each tensor counted, as a parameter count counts it. (The file stores identical buffers
    once: an untrained network's all-zero biases share one.)"""
    model = tflite_order.schema().Model.GetRootAs(tflite, 0)
    graph = model.Subgraphs(0)
    return sum(model.Buffers(graph.Tensors(i).Buffer()).DataLength()
               for i in range(graph.TensorsLength()))


def predict(tflite, images, batch=256):
    """Class predictions of a .tflite model (LiteRT) for float `images` as its Keras model takes
    them (raw pixels for export()'s); for an int8 model they are quantized with the input
    tensor's scale and zero point: value = round(x / scale) + zero point, clipped."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=tflite)
    source = interpreter.get_input_details()[0]
    scale, zero = source["quantization"]
    predictions = []
    for begin in range(0, len(images), batch):
        x = images[begin:begin + batch]
        interpreter.resize_tensor_input(source["index"], x.shape)
        interpreter.allocate_tensors()
        if source["dtype"] == np.int8:
            x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        predictions.append(logits.argmax(-1))
    return np.concatenate(predictions)
