"""lifetime.py: Figure 3, both schedules, folded parameters, Keras models, plot and CLI."""
import json
import os
import subprocess
import sys

import pytest

import cells
import lifetime
from cells import Arch, Cell

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Figure 1b's representations in our node order: input, C1's layers and sum, C2's (avgpool, then
# dwconv5x5) and concat, C3's layers and sum, the block output.
FIGURE_NAMES = ["r1", "r2", "r3", "r4", "r6", "r5", "r7", "r8", "r9", "r10", "r11"]


def figure_1b_block(filters=64, in_channels=64):
    return lifetime.block_graph(cells.FIGURE_1B.blocks[0], (32, 32, in_channels), filters, 1)


def test_figure_3_memory_row_with_unit_sizes():
    nodes, out = figure_1b_block()
    life = lifetime.analyze(nodes, "paper", sizes=[1] * len(nodes))
    assert life.memory == (1, 3, 2, 4, 3, 4, 3, 1)
    assert life.peak == 4
    assert nodes[out].name == "b1_out"


def test_figure_3_generation_and_deletion_times():
    nodes, _ = figure_1b_block()
    life = lifetime.analyze(nodes, "paper", sizes=[1] * len(nodes))
    born = dict(zip(FIGURE_NAMES, life.born))
    dead = dict(zip(FIGURE_NAMES, life.dead))
    # Read off Figure 3: filled circle (generation) and hollow circle (deletion) per row.
    assert born == {"r1": 1, "r2": 2, "r3": 2, "r4": 3, "r5": 2, "r6": 4, "r7": 5, "r8": 4,
                    "r9": 6, "r10": 7, "r11": 8}
    assert dead == {"r1": 2, "r2": 3, "r3": 3, "r4": 8, "r5": 5, "r6": 5, "r7": 8, "r8": 7,
                    "r9": 7, "r10": 8, "r11": None}


def test_strict_schedule_of_figure_1b_by_hand():
    nodes, _ = figure_1b_block()
    life = lifetime.analyze(nodes, "strict", sizes=[1] * len(nodes))
    # One node per step in program order; inputs counted while a node is computed. E.g. at
    # t = 4 (r4 = r2 + r3) r1 (still needed by r5), r2, r3 and r4 are live.
    assert life.memory == (1, 2, 3, 4, 3, 4, 4, 3, 3, 4, 3)
    assert life.born == tuple(range(1, 12))


def test_figure_1b_block_with_real_sizes():
    nodes, _ = figure_1b_block(filters=64)
    life = lifetime.analyze(nodes, "paper")
    unit = 32 * 32 * 64  # every layer output; r7 (concat) is 2 units, r11 is 3
    assert [m // unit for m in life.memory] == [1, 3, 2, 4, 4, 5, 4, 3]


# Figure 1b in all five blocks at w = 64, by hand. One block from c_in channels to f filters
# (output 3f): C1 = dwconv3x3 (10 c_in + c_in f + f) + conv1x7_7x1 (c_in f + f + 2 (7 f^2 + f)),
# C2 = avgpool on C1 (f^2 + f) + dwconv5x5 (26 c_in + c_in f + f), C3 = maxpool on C1 (f^2 + f)
# + maxpool on C2's 2f channels (2 f^2 + f): in all 36 c_in + 3 c_in f + 18 f^2 + 8 f.
#   stem 3 -> 64: 27 * 64 + 64                                          =     1,792
#   b1  64 -> 64:   2,304 +  12,288 +    73,728 +   512                 =    88,832
#   b2 192 -> 64:   6,912 +  36,864 +    73,728 +   512                 =   118,016
#   b3 192 -> 128:  6,912 +  73,728 +   294,912 + 1,024                 =   376,576
#   b4 384 -> 128: 13,824 + 147,456 +   294,912 + 1,024                 =   457,216
#   b5 384 -> 256: 13,824 + 294,912 + 1,179,648 + 2,048                 = 1,490,432
#   head 768 -> 10: 7,680 + 10                                          =     7,690
#                                                                  total  2,540,554
FIGURE_1B_PARAMS = 2_540_554
# Block peaks, paper schedule, 4 bytes a value. b1: 5 units of 32*32*64 (the row above),
# 1,310,720 B. b2: its input, 32*32*192 = 196,608 values at t = 1, is 12 of its 16*16*64 units,
# more than the 5 its row reaches: 786,432 B. b3: 5 units of 16*16*128: 655,360 B. b4: the
# input, 16*16*384: 393,216 B. b5: 5 units of 8*8*256: 327,680 B.
FIGURE_1B_BLOCK_PEAKS = [1_310_720, 786_432, 655_360, 393_216, 327_680]


def test_figure_1b_network_parameters_and_peaks_by_hand():
    memory = lifetime.arch_memory(cells.FIGURE_1B, filters=64, bytes_per_value=4)
    assert memory.params == FIGURE_1B_PARAMS
    assert list(memory.block_peaks) == FIGURE_1B_BLOCK_PEAKS
    assert memory.activation_bytes == 1_310_720


def test_schedules_are_named_and_never_mixed():
    paper = lifetime.arch_memory(cells.FIGURE_1B, schedule="paper")
    strict = lifetime.arch_memory(cells.FIGURE_1B, schedule="strict")
    assert (paper.schedule, strict.schedule) == ("paper", "strict")
    assert paper.params == strict.params == FIGURE_1B_PARAMS
    # Strict, block 1, in units of 32*32*64 values (r7 is 2 units, r11 is 3): the unit-size row
    # above but with the real sizes; at t = 11, r7 + r10 + r11 = 2 + 1 + 3 = 6 units, 4 bytes
    # each: 6 * 65,536 * 4 = 1,572,864 B.
    assert strict.activation_bytes == 1_572_864
    assert paper.activation_bytes == 1_310_720
    with pytest.raises(ValueError, match="schedule: 'fast' is not one of paper, strict"):
        lifetime.arch_memory(cells.FIGURE_1B, schedule="fast")


CONV_POOL = cells.one_cell("conv3x3", "maxpool3x3")


@pytest.mark.parametrize("bytes_per_value, params, activations", [(4, 11_688, 32_768),
                                                                  (1, 2_922, 8_192)])
def test_memory_of_a_small_network_by_hand(bytes_per_value, params, activations):
    # Parameters, BN folded, w = 4: stem 9*3*4 + 4 = 112; conv3x3 + 1x1 conv (before the pool)
    # per block: b1, b2 (4 -> 4) 148 + 20 = 168; b3 (4 -> 8) 296 + 40 = 336; b4 (8 -> 8)
    # 584 + 72 = 656; b5 (8 -> 16) 1168 + 144 = 1312; dense 16*10 + 10 = 170; total 2,922.
    # Peak, paper: block 1 at t = 2 holds its two layer outputs, 2 * 32*32*4 = 8,192 values
    # (the block input is deleted then: both layers read it at t = 2).
    memory = lifetime.arch_memory(CONV_POOL, filters=4, bytes_per_value=bytes_per_value)
    assert (memory.params, memory.param_bytes, memory.activation_bytes) == (
        2_922, params, activations)
    assert memory.total_bytes == params + activations
    # b2 reads b1's 32*32*4 output: 4,096 values; b3 2 * 16*16*8; b4 its input 16*16*8;
    # b5 2 * 8*8*16.
    assert memory.block_peaks == tuple(bytes_per_value * v
                                       for v in (8_192, 4_096, 4_096, 2_048, 2_048))


def test_strict_schedule_of_a_small_network_by_hand():
    # Block 1 in program order: input, conv, pool, sum. At t = 3 (the pool) the input, the
    # conv and the pool are live, 3 * 4,096 values; at t = 4 the conv, pool and sum, again 3.
    memory = lifetime.arch_memory(CONV_POOL, filters=4, bytes_per_value=4, schedule="strict")
    assert memory.activation_bytes == 3 * 4_096 * 4 == 49_152


def test_batchnorm_folding_rules():
    import keras
    x = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, use_bias=False)(x)
    a = keras.layers.BatchNormalization()(a)          # folds into a new bias: + 4
    b = keras.layers.Conv2D(4, 1, use_bias=True)(a)
    b = keras.layers.BatchNormalization()(b)          # folds into the existing bias: + 0
    c = keras.layers.MaxPooling2D()(b)
    c = keras.layers.BatchNormalization()(c)          # nothing to fold into: scale and shift
    model = keras.Model(x, c)
    assert lifetime.folded_params(model) == (27 * 4 + 4) + (4 * 4 + 4) + 0 + 2 * 4
    assert model.count_params() == (27 * 4) + (4 * 4 + 4) + 3 * (4 * 4)


def test_keras_model_lifetime_by_hand():
    import keras
    x = keras.Input((8, 8, 3), name="x")                                 # 192
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(x)           # 256
    a = keras.layers.ReLU(name="relu")(a)                                 # fused: no node
    b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)           # 256
    c = keras.layers.Add(name="c")([a, b])                                # 256
    g = keras.layers.GlobalAveragePooling2D(name="g")(c)                  # 4
    y = keras.layers.Dense(2, name="y")(g)                                # 2
    model = keras.Model(x, y)
    nodes = lifetime.model_graph(model)
    assert [n.name for n in nodes] == ["x", "a", "b", "c", "g", "y"]
    assert [n.inputs for n in nodes] == [(), (0,), (1,), (1, 2), (3,), (4,)]
    # Paper: x; a (x deleted); a, b; c (a, b deleted); g; y.
    assert lifetime.analyze(nodes, "paper").memory == (192, 256, 512, 256, 4, 2)
    # Strict: inputs are counted while a node is computed.
    assert lifetime.analyze(nodes, "strict").memory == (192, 448, 512, 768, 260, 6)
    memory = lifetime.model_memory(model, bytes_per_value=1, schedule="strict")
    assert memory.activation_bytes == 768 and memory.block_peaks == ()
    # No BN: a 27*4 + 4 = 112, b 36*4 + 4 = 148, y 4*2 + 2 = 10.
    assert memory.params == 112 + 148 + 10


def test_raw_keras_ops_in_a_functional_model_are_weightless_nodes():
    import keras
    from keras import ops
    x = keras.Input((4, 4, 6), name="x")
    a = keras.layers.Conv2D(6, 1, name="a")(x)                            # 6 * 6 + 6 = 42
    s = ops.reshape(a, (-1, 4, 4, 2, 3))                                  # fused into a
    s = ops.transpose(s, (0, 1, 2, 4, 3))                                 # a copy: a node
    s = ops.reshape(s, (-1, 4, 4, 6))                                     # fused
    y = keras.layers.Dense(2, name="y")(keras.layers.GlobalAveragePooling2D(name="g")(s))
    nodes = lifetime.model_graph(keras.Model(x, y))
    assert [n.name for n in nodes] == ["x", "a", "transpose", "g", "y"]
    assert [n.params for n in nodes] == [0, 42, 0, 0, 14]


def test_keras_application_parameters_fold_every_batchnorm():
    import keras
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None, classes=10,
                                           alpha=0.35)
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    # MobileNetV2's convolutions have no bias, so each BN folds into C new biases.
    channels = sum(int(layer.moving_mean.shape[0]) for layer in bn)
    memory = lifetime.model_memory(model)
    assert memory.params == model.count_params() - 4 * channels + channels
    nodes = lifetime.model_graph(model)
    assert not any(isinstance(model.get_layer(n.name), keras.layers.BatchNormalization)
                   for n in nodes)


def test_plot_writes_a_png(tmp_path):
    nodes, _ = figure_1b_block()
    path = tmp_path / "fig3.png"
    lifetime.plot(lifetime.analyze(nodes, sizes=[1] * len(nodes)), path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def _run(*args):
    return subprocess.run([sys.executable, "lifetime.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_arch_json_and_plot(tmp_path):
    arch_file = tmp_path / "fig1b.json"
    cells.save(cells.FIGURE_1B, arch_file)
    result = _run(f"--arch={arch_file}", "--filters=64", "--bytes=4", "--schedule=paper",
                  "--json", f"--plot={tmp_path / 'life.png'}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["params"] == FIGURE_1B_PARAMS
    assert report["param_bytes"] == 4 * 2_540_554 == 10_162_216
    assert report["activation_bytes"] == 1_310_720
    assert report["total_bytes"] == 10_162_216 + 1_310_720 == 11_472_936
    assert report["block_peaks"] == FIGURE_1B_BLOCK_PEAKS
    assert report["schedule"] == "paper"
    assert (tmp_path / "life.png").stat().st_size > 5000


def test_cli_keras_app():
    result = _run("--keras_app=MobileNetV2", "--input_size=32", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "MobileNetV2" and report["block_peaks"] is None
    # Keras counts 2,270,794 parameters, 4 per BN channel; 17,056 BN channels fold into one
    # bias each: 2,270,794 - 3 * 17,056 = 2,219,626.
    assert report["params"] == 2_219_626


def test_cli_needs_an_arch_or_a_keras_app():
    result = _run()
    assert result.returncode == 1
    assert "give exactly one of --arch and --keras_app" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_keras_app_is_named():
    # In-process: the CLI prints this ValueError as one line (test_cells runs it on bad files).
    with pytest.raises(ValueError, match="--keras_app: keras.applications has no model 'NoSuch'"):
        lifetime._keras_app("NoSuch", 32, 10)


def test_model_memory_of_figure_1b_built_equals_arch_memory():
    # The README's numbers: rule 3 holds C1's output (r4) until the block output in both.
    model = cells.build_model(cells.FIGURE_1B, filters=64)
    memory = lifetime.model_memory(model)
    assert (memory.params, memory.activation_bytes) == (FIGURE_1B_PARAMS, 1_310_720)


def test_rule_3_holds_a_block_input_that_a_bare_identity_cell_passes_on():
    alias = Cell((0, None), ("identity", "identity"), "sum", False)
    arch = Arch(((alias, Cell((1, 1), ("conv3x3", "conv3x3"), "sum", False),
                  Cell((2, 2), ("conv3x3", "conv3x3"), "sum", True)),) * 5)
    # Block 1, unit sizes: t1 input; t2 input + 2 convs; t3 input + C2's sum; t4 input + C2's
    # sum (a cell output, held) + C3's 2 convs = 4; t5 C3's sum, the block output, which frees
    # the held nodes. Cell 1 is the block input itself, so the input is held until t5: without
    # that t4 would count 3.
    nodes, _ = lifetime.block_graph(arch.blocks[0], (32, 32, 4), 4, 1)
    assert lifetime.analyze(nodes, "paper", [1] * len(nodes)).memory == (1, 3, 2, 4, 1)
    expected = 4 * 32 * 32 * 4 * 4  # 4 units, 4 bytes each: 65,536
    assert lifetime.arch_memory(arch, filters=4).activation_bytes == expected
    model = cells.build_model(arch, filters=4)
    assert lifetime.model_memory(model).activation_bytes == expected
    assert lifetime.analyze(lifetime.arch_graph(arch, 4), "paper").peak * 4 == expected


def test_strict_order_of_a_keras_model_is_its_own():
    # Two cells both reading the block input. Program order (arch_graph, build_model's calls):
    # in, pool, dil, sum1, conv, conv1x7, sum2, out: at most 4 units of 32*32*4 values live.
    # Keras runs layers by depth from the output: in, pool, dil, conv, conv1x7, sum1, sum2,
    # out, so at t = 5 the input and all four layer outputs live: 5 units.
    arch = Arch(((Cell((0, 0), ("maxpool3x3", "dilconv3x3"), "sum", True),
                  Cell((0, 0), ("conv3x3", "conv1x7_7x1"), "sum", True)),) * 5)
    unit_bytes = 32 * 32 * 4 * 4
    assert lifetime.arch_memory(arch, 4, schedule="strict").activation_bytes == 4 * unit_bytes
    model = cells.build_model(arch, filters=4)
    assert lifetime.model_memory(model, schedule="strict").activation_bytes == 5 * unit_bytes
    # The paper schedule depends on the graph only: both give 4 units (t = 2: 4 layer outputs).
    assert lifetime.model_memory(model).activation_bytes == 4 * unit_bytes
    assert lifetime.arch_memory(arch, 4).activation_bytes == 4 * unit_bytes
