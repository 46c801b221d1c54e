"""What a microcontroller's firmware gets: the int8 model taking raw pixels (`pixel_input`), as a
C array for TensorFlow Lite Micro (SOURCE, HEADER: `MODEL_ARRAY`, `MODEL_LENGTH`), and the arena
to give its interpreter (`ARENA_SIZE`, from `smallest_arena`). export.py writes them beside the
.tflite files; docs/deployment.md shows the firmware side.
"""
import os
import subprocess
import sys

import tflite_order
import tflm

SOURCE, HEADER = "model_data.cc", "model_data.h"
MODEL_ARRAY, MODEL_LENGTH, ARENA_SIZE = "g_model", "g_model_len", "kTensorArenaSize"
HEADER_GUARD = "MEMNAS_MODEL_DATA_H_"
ALIGNMENT = tflm.TFLM_ALIGNMENT  # bytes: TFLM aligns the arena and its buffers to this
BYTES_PER_LINE = 12
FIRST_STEP = 64 * ALIGNMENT  # bytes the search for the arena first adds past head + tail
LAST_ARENA = 1 << 31
PIXEL_ZERO_POINT = -128  # the int8 input: pixel - 128, scale 1

# Run in a child: a too-small arena can crash TFLM (a segfault when its planner's scratch
# holds no buffer), which must not take export.py down with it.
_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
with open(sys.argv[1], "rb") as f:
    interpreter = runtime.Interpreter.from_bytes(f.read(), arena_size=int(sys.argv[2]))
details = interpreter.get_input_details(0)
interpreter.set_input(np.zeros(details["shape"], details["dtype"]), 0)
interpreter.invoke()
"""


def pixel_input(tflite):
    """The int8 model `tflite` (bytes, of an export.deployable model) with its input declared as
    the raw image: int8 value = pixel - 128 (scale 1, zero point -128). Calibration gives zero
    point -128 (the converter stretches the range to include 0) and scale = the largest pixel
    it saw / 255: 1 only if some calibration image reached 255. The first operator, the
    normalization's SUB, requantizes from its input's scale when TFLite prepares it, so with
    the true scale it reads pixels as they are; nothing else depends on that scale. Only the
    scale's 4 bytes change."""
    data = bytearray(tflite)
    graph = tflite_order.schema().Model.GetRootAs(data, 0).Subgraphs(0)
    quantization = graph.Tensors(graph.Inputs(0)).Quantization()
    scale, zero = quantization.ScaleAsNumpy(), quantization.ZeroPointAsNumpy()
    if list(zero) != [PIXEL_ZERO_POINT]:
        raise RuntimeError(f"int8 input: zero point {list(zero)}, not [{PIXEL_ZERO_POINT}]: "
                           f"not an image of non-negative pixels")
    scale[:] = 1.0  # a writable view into `data`
    return bytes(data)


def aligned(n):
    """n rounded up to a multiple of ALIGNMENT."""
    return -(-n // ALIGNMENT) * ALIGNMENT


def _runs(tflite_path, arena):
    """Whether TFLM loads the model at tflite_path in an `arena`-byte arena and runs it once."""
    return subprocess.run([sys.executable, "-c", _PROBE, tflite_path, str(arena)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def smallest_arena(tflite_path, head_and_tail):
    """The smallest arena, a multiple of ALIGNMENT, in which TFLite-Micro loads and runs the
    model at tflite_path: `ARENA_SIZE`. It is aligned(head + tail) (`head_and_tail`, what TFLM
    reports allocated) unless TFLM needs more while it plans: its planner works in the
    arena's free part (a record per tensor, then a scratch per buffer) before the head is laid
    out, which a tiny model's head can be smaller than. Searched from aligned(head + tail): steps
    doubling from FIRST_STEP until one runs, then bisection, each probe a child process."""
    low = aligned(head_and_tail)
    if _runs(tflite_path, low):
        return low
    step = FIRST_STEP
    while not _runs(tflite_path, low + step):
        low += step
        step *= 2
        if low + step > LAST_ARENA:
            raise RuntimeError(f"{tflite_path}: TFLM runs it in no arena up to {LAST_ARENA} B")
    high = low + step  # low fails, high runs
    while high - low > ALIGNMENT:
        middle = aligned((low + high) // 2)  # strictly between: both are multiples
        low, high = (low, middle) if _runs(tflite_path, middle) else (middle, high)
    return high


def header_text(arena_bytes):
    """The C/C++ header declaring MODEL_ARRAY and MODEL_LENGTH (defined in SOURCE) and defining
    ARENA_SIZE."""
    return (f"// {HEADER}: written by export.py (firmware.py); do not edit.\n"
            f"// The int8 model (model_int8.tflite) for TensorFlow Lite Micro.\n"
            f"#ifndef {HEADER_GUARD}\n#define {HEADER_GUARD}\n\n"
            f"// Bytes of the tensor arena to give tflite::MicroInterpreter, {ALIGNMENT}-byte "
            f"aligned:\n// the smallest TFLM loads and runs this model in.\n"
            f"constexpr int {ARENA_SIZE} = {arena_bytes};\n\n"
            f"extern const unsigned char {MODEL_ARRAY}[];\n"
            f"extern const unsigned int {MODEL_LENGTH};\n\n#endif  // {HEADER_GUARD}\n")


def source_text(tflite):
    """The C++ source defining MODEL_ARRAY (the bytes of `tflite`, ALIGNMENT-aligned, as TFLM
    reads the flatbuffer in place) and MODEL_LENGTH. It includes HEADER: a namespace-scope const
    has internal linkage in C++ unless declared extern first."""
    lines = [", ".join(f"0x{b:02x}" for b in tflite[i:i + BYTES_PER_LINE])
             for i in range(0, len(tflite), BYTES_PER_LINE)]
    return (f"// {SOURCE}: written by export.py (firmware.py) from model_int8.tflite; "
            f"do not edit.\n#include \"{HEADER}\"\n\n"
            f"alignas({ALIGNMENT}) const unsigned char {MODEL_ARRAY}[] = {{\n    "
            + ",\n    ".join(lines)
            + f"\n}};\nconst unsigned int {MODEL_LENGTH} = {len(tflite)};\n")


def write(tflite, arena_bytes, out_dir):
    """out_dir/SOURCE and out_dir/HEADER for the int8 model `tflite` (bytes) and an arena of
    `arena_bytes` (a multiple of ALIGNMENT); their paths."""
    if arena_bytes % ALIGNMENT:
        raise ValueError(f"arena: {arena_bytes} B is not a multiple of {ALIGNMENT}")
    paths = os.path.join(out_dir, SOURCE), os.path.join(out_dir, HEADER)
    for path, text in zip(paths, (source_text(tflite), header_text(arena_bytes))):
        with open(path, "w") as f:
            f.write(text)
    return paths
