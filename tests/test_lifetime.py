"""lifetime.py: Figure 3, the three schedules, folded parameters, Keras models, plot and CLI."""
import graph
import json
import keras_graph
import os
import random
import subprocess
import sys

import pytest

import arch_json
import cells
import grow_trim
import lifetime
import network
import orders
import tflm
from cells import Arch, Cell

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Figure 1b's representations in our node order: input, C1's layers and sum, C2's (avgpool, then
# dwconv5x5) and concat, C3's layers and sum, the block output.
FIGURE_NAMES = ["r1", "r2", "r3", "r4", "r6", "r5", "r7", "r8", "r9", "r10", "r11"]


def figure_1b_block(filters=64, in_channels=64):
    return graph.block_graph(cells.FIGURE_1B.blocks[0], (32, 32, in_channels), filters, 1)


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
    with pytest.raises(ValueError, match="schedule: 'fast' is not one of paper, strict, optimal"):
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
    assert keras_graph.folded_params(model) == (27 * 4 + 4) + (4 * 4 + 4) + 0 + 2 * 4
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
    nodes = keras_graph.model_graph(model)
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
    nodes = keras_graph.model_graph(keras.Model(x, y))
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
    # A keras.applications graph: the optimal schedule runs on it (here program order is
    # already optimal: the peak is at the first, largest layers).
    strict, optimal = (lifetime.model_memory(model, schedule=s).activation_bytes
                       for s in ("strict", "optimal"))
    assert optimal <= strict
    nodes = keras_graph.model_graph(model)
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
    arch_json.save(cells.FIGURE_1B, arch_file)
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


@pytest.mark.slow
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
    # docs/memory.md's numbers: rule 3 holds C1's output (r4) until the block output in both.
    model = network.build_model(cells.FIGURE_1B, filters=64)
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
    nodes, _ = graph.block_graph(arch.blocks[0], (32, 32, 4), 4, 1)
    assert lifetime.analyze(nodes, "paper", [1] * len(nodes)).memory == (1, 3, 2, 4, 1)
    expected = 4 * 32 * 32 * 4 * 4  # 4 units, 4 bytes each: 65,536
    assert lifetime.arch_memory(arch, filters=4).activation_bytes == expected
    model = network.build_model(arch, filters=4)
    assert lifetime.model_memory(model).activation_bytes == expected
    assert lifetime.analyze(graph.arch_graph(arch, 4), "paper").peak * 4 == expected


def test_strict_order_of_a_keras_model_is_its_own():
    # Two cells both reading the block input, of layers that are one tensor each (a conv3x3).
    # Program order (arch_graph, build_model's calls): in, a1, a2, sum1, b1, b2, sum2, out: at
    # most 4 units of 32*32*4 values live. Keras runs layers by depth from the output: in, a1,
    # a2, b1, b2, sum1, sum2, out, so at t = 5 the input and all four layer outputs live: 5.
    arch = Arch(((Cell((0, 0), ("conv3x3", "conv3x3"), "sum", True),
                  Cell((0, 0), ("conv3x3", "conv3x3"), "sum", True)),) * 5)
    unit_bytes = 32 * 32 * 4 * 4
    assert lifetime.arch_memory(arch, 4, schedule="strict").activation_bytes == 4 * unit_bytes
    model = network.build_model(arch, filters=4)
    assert lifetime.model_memory(model, schedule="strict").activation_bytes == 5 * unit_bytes
    # The paper and optimal schedules depend on the graph only: both give 4 units (paper: t = 2,
    # 4 layer outputs; optimal: the Arch's program order, found from Keras's order too).
    for schedule in ("paper", "optimal"):
        assert lifetime.model_memory(model, schedule=schedule).activation_bytes == 4 * unit_bytes
        assert lifetime.arch_memory(arch, 4, schedule=schedule).activation_bytes == 4 * unit_bytes
    # arch_order names layers of the built model, each once, all but the image.
    names = [name for part in lifetime.arch_order(arch, 4) for name in part]
    assert sorted(names) == sorted(n.name for n in keras_graph.model_graph(model, True)[1:])


# ---------------------------------------------------------------------------------------------
# The optimal schedule
# ---------------------------------------------------------------------------------------------

def _literal(*specs):
    """Nodes from (name, size, inputs): sizes as one-dimensional shapes."""
    return [graph.Node(name, (size,), inputs) for name, size, inputs in specs]


def test_optimal_beats_strict_on_a_hand_worked_block():
    # x feeds two branches, each a large node then a small one; out reads both small ones.
    nodes = _literal(("x", 1, ()), ("a1", 4, (0,)), ("b1", 4, (0,)), ("a2", 1, (1,)),
                     ("b2", 1, (2,)), ("out", 1, (3, 4)))
    # Strict, program order x a1 b1 a2 b2 out, live while each is computed:
    #   x 1; a1: x + a1 = 5; b1: x + a1 + b1 = 9 (x freed after); a2: a1 + b1 + a2 = 9 (a1
    #   freed); b2: b1 + a2 + b2 = 6; out: a2 + b2 + out = 3. Peak 9.
    assert lifetime.analyze(nodes, "strict").memory == (1, 5, 9, 9, 6, 3)
    # Optimal, x a1 a2 b1 b2 out, one branch finished before the next: x 1; a1: 5; a2:
    # x + a1 + a2 = 6 (a1 freed); b1: x + a2 + b1 = 6 (x freed); b2: a2 + b1 + b2 = 6; out 3.
    # Peak 6, and no order does better: the second large node is computed beside x (still its
    # input) and the first branch's result, 1 + 1 + 4 = 6.
    assert orders.optimal_order(nodes) == ((0, 1, 3, 2, 4, 5), 6)
    life = lifetime.analyze(nodes, "optimal")
    assert life.memory == (1, 5, 6, 6, 6, 3) and life.schedule == "optimal"
    # Born and dead follow the order: a2 is computed third, b1 fourth; x dies after b1.
    assert life.born == (1, 2, 4, 3, 5, 6)
    assert life.dead == (5, 4, 6, 7, 7, None)
    # The order is found for the sizes given: with all sizes 1 program order is optimal (3).
    assert orders.optimal_order(nodes, sizes=[1] * 6) == ((0, 1, 2, 3, 4, 5), 3)


# A trimmed round-2 candidate, found by sampling grown and trimmed networks: C1 and C3 are the
# block output, C2 (not an output) is read by C3's conv.
THREE_CELLS = Arch(((Cell((0, 0), ("dwconv5x5", "conv1x7_7x1"), "sum", True),
                     Cell((0, 0), ("dwconv3x3", "maxpool3x3"), "sum", False),
                     Cell((0, 2), ("avgpool3x3", "conv3x3"), "sum", True)),) * 5)


def test_optimal_beats_strict_on_a_real_block_by_hand():
    nodes, _ = graph.block_graph(THREE_CELLS.blocks[0], (32, 32, 64), 64, 1)
    unit = 32 * 32 * 64  # every node is one unit, but b1_out (C1 and C3 concatenated) is 2
    strict = lifetime.analyze(nodes, "strict")
    # Program order C1, C2, C3: at C2's sum the input (C3's pool still reads it), C1's sum and
    # C2's two layers and sum are live: 5 units.
    assert [m // unit for m in strict.memory] == [1, 2, 3, 4, 3, 4, 5, 4, 4, 4, 4]
    # Optimal: C2, then C3's conv (which frees C2), C3's pool and sum, C1 last: 4 units, the
    # floor set by b1_out beside its two inputs.
    names = [nodes[k].name for k in orders.optimal_order(nodes)[0]]
    assert names == ["input", "b1_c2_l1_dwconv3x3", "b1_c2_l2_maxpool3x3", "b1_c2_sum",
                     "b1_c3_l2_conv3x3", "b1_c3_l1_avgpool3x3", "b1_c3_sum",
                     "b1_c1_l1_dwconv5x5", "b1_c1_l2_conv1x7_7x1", "b1_c1_sum", "b1_out"]
    optimal = lifetime.analyze(nodes, "optimal")
    assert [m // unit for m in optimal.memory] == [1, 2, 3, 4, 3, 3, 4, 3, 4, 4, 4]
    # The network's peak is block 1's: 5 and 4 units of 65,536 values, 4 bytes each. Lower
    # than the paper schedule's too (1,310,720 B), which counts all of block 1's layers at t = 2.
    memory = {s: lifetime.arch_memory(THREE_CELLS, 64, schedule=s).activation_bytes
              for s in ("paper", "strict", "optimal")}
    assert memory == {"paper": 1_310_720, "strict": 1_310_720, "optimal": 1_048_576}
    parts = lifetime.arch_order(THREE_CELLS)
    # arch_order runs the deployed tensors (graph.op_tensors): here in the same order of layers,
    # each layer's inner tensors (NAME/0, ...) right before its output.
    assert [name for name in parts[1] if "/" not in name] == names[1:]
    assert parts[1][:2] == ("b1_c2_l1_dwconv3x3/0", "b1_c2_l1_dwconv3x3")
    assert parts[0] == ("stem",)
    assert parts[-1] == ("gap", "logits") and len(parts) == 7


def _topological_orders(nodes):
    """Every topological order of `nodes`, by brute force."""
    order, done = [], set()

    def extend():
        if len(order) == len(nodes):
            yield tuple(order)
        for v in range(len(nodes)):
            if v not in done and done.issuperset(nodes[v].inputs):
                order.append(v)
                done.add(v)
                yield from extend()
                done.discard(order.pop())

    return extend()


def _peak_in_order(nodes, sizes, order):
    """Strict's peak with the nodes relabeled into `order`: independent of optimal_order."""
    position = {k: t for t, k in enumerate(order)}
    relabeled = [graph.Node(str(k), (1,), tuple(position[i] for i in nodes[k].inputs))
                 for k in order]
    return lifetime.analyze(relabeled, "strict", [sizes[k] for k in order]).peak


def _check_optimal(nodes, sizes, brute_force):
    order, peak = orders.optimal_order(nodes, sizes)
    strict = lifetime.analyze(nodes, "strict", sizes).peak
    assert sorted(order) == list(range(len(nodes)))
    assert _peak_in_order(nodes, sizes, order) == peak  # raises if not topological
    assert lifetime.analyze(nodes, "optimal", sizes).peak == peak <= strict
    if peak == strict:
        assert order == tuple(range(len(nodes)))
    if brute_force:
        assert peak == min(_peak_in_order(nodes, sizes, o) for o in _topological_orders(nodes))
    return peak < strict


def test_optimal_is_exact_and_never_above_strict_on_random_graphs():
    rng = random.Random(13)
    lower = 0
    for _ in range(200):
        n = rng.randint(3, 12)
        nodes = _literal(("n0", 1, ()), *[
            (f"n{k}", 1, () if rng.random() < 0.1 else
             tuple(rng.sample(range(k), rng.randint(1, min(3, k))))) for k in range(1, n)])
        lower += _check_optimal(nodes, [rng.randint(1, 9) for _ in nodes], brute_force=n <= 7)
    assert lower > 20  # the sample does exercise the search


def test_optimal_on_round_0_and_sampled_candidates():
    rng = random.Random(7)
    archs = list(grow_trim.generate().candidates)
    base = archs[3]
    for _ in range(3):
        generation = grow_trim.generate(base)
        archs += rng.sample(generation.candidates, 6)
        base = rng.choice(generation.grow)
    for arch in archs + [cells.FIGURE_1B, THREE_CELLS]:
        strict, optimal = (lifetime.arch_memory(arch, 8, schedule=s) for s in ("strict",
                                                                                "optimal"))
        assert all(o <= s for o, s in zip(optimal.block_peaks, strict.block_peaks))
        # Parts searched on their own give the whole network's optimal peak.
        whole = lifetime.analyze(graph.arch_graph(arch, 8, primitives=True), "optimal")
        assert optimal.activation_bytes == 4 * whole.peak
        for block in arch.blocks:
            nodes, _ = graph.block_graph(block, (32, 32, 8), 8, 1, primitives=True)
            _check_optimal(nodes, [n.size for n in nodes], brute_force=len(nodes) <= 8)
    # Figure 1b: the network's peak is block 1's output concatenation beside its inputs, which
    # no order avoids, so optimal is strict there; inside block 2 another order of the tensors
    # (graph.op_tensors) does lower that block's own peak.
    strict, optimal = (lifetime.arch_memory(cells.FIGURE_1B, schedule=s) for s in ("strict",
                                                                                   "optimal"))
    assert optimal.activation_bytes == strict.activation_bytes
    assert optimal.block_peaks[1] < strict.block_peaks[1]


def test_the_search_budget_is_named():
    # Ten branches of two nodes from one input, all read by `out`: the sets of computed nodes
    # multiply (3^10), and program order's peak (13, at out's last two inputs) is above the
    # floor (out beside its inputs, 11), so the search has to run to show it is optimal.
    specs = [("in", 1, ())]
    for b in range(10):
        specs += [(f"a{b}", 3, (0,)), (f"b{b}", 1, (2 * b + 1,))]
    nodes = _literal(*specs, ("out", 1, tuple(range(2, 21, 2))))
    message = ("optimal schedule: the graph of 22 nodes ending in 'out' has more than 1,000 "
               "sets of computed nodes to search; use --schedule=strict")
    with pytest.raises(ValueError, match=message):
        orders.optimal_order(nodes, max_states=1_000)
    assert orders.optimal_order(nodes) == (tuple(range(22)), 13)


def test_optimal_order_rejects_a_node_that_reads_a_later_one():
    nodes = _literal(("x", 1, ()), ("y", 1, (2,)), ("z", 1, (0,)))
    with pytest.raises(ValueError, match="node y: reads a node that comes after it"):
        orders.optimal_order(nodes)


def test_cli_optimal_schedule(tmp_path):
    arch_file = tmp_path / "three_cells.json"
    arch_json.save(THREE_CELLS, arch_file)
    result = _run(f"--arch={arch_file}", "--schedule=optimal", "--json",
                  f"--plot={tmp_path / 'life.png'}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["schedule"], report["activation_bytes"]) == ("optimal", 1_048_576)
    assert (tmp_path / "life.png").stat().st_size > 5000


# ---------------------------------------------------------------------------------------------
# As deployed: the tensors inside operation layers, and TFLite-Micro's plan
# ---------------------------------------------------------------------------------------------

def test_deployed_schedules_count_the_tensors_inside_an_operation_layer():
    # Round 0's dwconv3x3 + maxpool3x3 at width 16, 1 byte per value: every tensor of block 1 is
    # 32 x 32 x 16 = 16,384 B. As one node per layer, strict holds 2 of them at most beside the
    # block input; but dwconv3x3 is a depthwise then a pointwise conv, and maxpool3x3 a 1x1 conv
    # then the pool, so the pointwise runs with the input, the depthwise output and its own
    # output live: 3 tensors, 49,152 B.
    arch = cells.one_cell("dwconv3x3", "maxpool3x3")
    nodes, _ = graph.block_graph(arch.blocks[0], (32, 32, 16), 16, 1, primitives=True)
    assert [n.name for n in nodes] == [
        "input", "b1_c1_l1_dwconv3x3/0", "b1_c1_l1_dwconv3x3", "b1_c1_l2_maxpool3x3/0",
        "b1_c1_l2_maxpool3x3", "b1_c1_sum"]
    assert sum(n.params for n in nodes) == (cells.op_params("dwconv3x3", 16, 16)
                                            + cells.op_params("maxpool3x3", 16, 16))
    assert lifetime.arch_memory(arch, 16, 1, "strict").activation_bytes == 3 * 16_384
    # TFLite-Micro needed 4 of them (65,536 B, measured with export.py): its planner's gaps.
    assert lifetime.arch_memory(arch, 16, 1, "tflm").activation_bytes == 4 * 16_384
    # The same from the Keras model, whose op layers are keras.Sequential models.
    model = network.build_model(arch, 16)
    for schedule in lifetime.DEPLOYED:
        assert (lifetime.model_memory(model, 1, schedule).activation_bytes
                == lifetime.arch_memory(arch, 16, 1, schedule).activation_bytes)


def test_tflm_planner_leaves_a_gap_worked_by_hand():
    # A chain a(3) -> b(1) -> c(2) -> d(3), 16 bytes a unit (TFLM's alignment). Lifetimes in
    # steps: a 0-1, b 1-2, c 2-3, d 3-end; strict's peak is c + d = 5 units. The planner places
    # the largest first, ties from the last tensor: d at 0, a at 0 (never live with d), c at 3
    # (beside d), then b, live with a (0-3) and c (3-5), at 5: an arena of 6 units.
    nodes = _literal(("a", 3, ()), ("b", 1, (0,)), ("c", 2, (1,)), ("d", 3, (2,)))
    assert lifetime.analyze(nodes, "strict").peak == 5
    assert tflm.planned_arena(nodes, bytes_per_value=16) == 6 * 16
    # Equal sizes leave no gap: all 1 unit, 2 live at most.
    unit = _literal(("a", 1, ()), ("b", 1, (0,)), ("c", 1, (1,)), ("d", 1, (2,)))
    assert tflm.planned_arena(unit, 16) == 2 * 16


def test_int8_parameters_store_one_int32_bias_per_output_channel():
    # conv3x3 from 3 to 4 channels + BN: 108 int8 weights and 4 int32 biases = 124 B.
    nodes = _literal(("image", 1, ()))
    nodes = [nodes[0], graph.Node("conv", (8, 8, 4), (0,), 3 * 3 * 3 * 4 + 4)]
    assert tflm.int8_param_bytes(nodes) == 108 + 4 * 4


def test_a_dilated_conv_is_the_four_tensors_the_converter_lowers_it_to():
    # TFLite's converter runs a 3x3 conv of dilation 2 on 32x32x16 as SPACE_TO_BATCH_ND (padded
    # to 36x36 and split in 4: 18x18x16, static batch 1), a plain conv (16x16), BATCH_TO_SPACE_ND
    # back to 32x32 and a MUL (BatchNorm's scale), as read off its .tflite files.
    assert [shape for shape, _ in graph.op_tensors("dilconv3x3", (32, 32, 16), 16, 1)] == [
        (18, 18, 16), (16, 16, 16), (32, 32, 16), (32, 32, 16)]
    # Two dilated convs reading one input share its space-to-batch tensor.
    arch = cells.one_cell("dilconv3x3", "dilconv3x3")
    nodes, _ = graph.block_graph(arch.blocks[0], (32, 32, 16), 16, 1, primitives=True)
    assert [n.name for n in nodes if n.shape == (18, 18, 16)] == ["b1_c1_l1_dilconv3x3/0"]
    assert len(nodes) == 1 + 4 + 3 + 1
