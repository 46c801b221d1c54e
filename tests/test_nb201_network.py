"""nb201_network.py (NAS-Bench-201's network in Keras) against nb201.py's formulas and nodes,
TFLite-Micro's arena against nb201's deployed memory, and reproduce/nb201_memory.py's rows
worked out by hand."""
import numpy as np
import pytest

import keras_graph
import lifetime
import nb201
import nb201_graph
import nb201_network
from reproduce import nb201_memory

ONE_1X1 = "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|"  # node 3 = conv1x1(node 0)
IDENTITY = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # node 3 = node 0
ALL_3X3 = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
           "nor_conv_3x3~2|")
ALL_POOL = ("|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|"
            "avg_pool_3x3~2|")


@pytest.mark.parametrize("text, keras_params", [
    # Keras keeps each BatchNorm's moving mean and variance as weights, PyTorch as buffers: 2
    # more per BatchNorm channel. BatchNorm channels: the stem's 16, the reduction blocks'
    # conv_a and conv_b (2 x 32 + 2 x 64 = 192), the last 64, and each cell conv's, 5 cells
    # per stage: 16 + 32 + 64 = 112 per conv edge, 560 per edge over the 15 cells.
    (ONE_1X1, 101_306 + 2 * (16 + 192 + 64 + 560)),        # 102,970
    (IDENTITY, 73_306 + 2 * (16 + 192 + 64)),              # 73,850
    (ALL_3X3, 1_531_546 + 2 * (16 + 192 + 64 + 6 * 560))])  # 1,538,810
def test_keras_counts_the_benchmarks_parameters_and_the_moving_statistics(text, keras_params):
    cell = nb201.parse(text)
    assert nb201.param_count(cell) in (101_306, 73_306, 1_531_546)  # the benchmark's numbers
    assert nb201_network.build_model(cell).count_params() == keras_params


@pytest.mark.parametrize("text", [ONE_1X1, IDENTITY, ALL_3X3, ALL_POOL])
def test_the_keras_graph_of_the_model_is_the_op_level_network(text):
    # keras_graph fuses BatchNorm and every ReLU into the layer before them (Figure 3's rule
    # 1), as nb201_graph.network_parts does without primitives: the same nodes, so the same memory
    # and folded parameters under every schedule (strict too: Keras's depth order and
    # network_parts's agree on these cells).
    cell = nb201.parse(text)
    model = nb201_network.build_model(cell)
    parts = nb201_graph.network_parts(cell)
    for schedule in lifetime.SCHEDULES:
        assert lifetime.model_memory(model, 1, schedule) == lifetime.parts_memory(
            parts, 1, schedule)
    assert len(keras_graph.model_graph(model)) == sum(len(nodes) - 1 for nodes, _ in parts) + 1


def test_the_deployed_network_has_the_relu_tensors_the_keras_graph_fuses():
    # The reduction block's input is pooled as it is and ReLU'd for conv_a: TFLite keeps that
    # ReLU, keras_graph fuses it. Strict: 40,960 deployed (input + ReLU + conv_a, 16,384 +
    # 16,384 + 8,192) against 32,768 (input + conv in a stage-1 cell).
    cell = nb201.parse(ONE_1X1)
    model = nb201_network.build_model(cell)
    deployed = nb201_graph.network_parts(cell, primitives=True)
    assert lifetime.model_memory(model, 1, "strict").activation_bytes == 32_768
    assert lifetime.parts_memory(deployed, 1, "strict").activation_bytes == 40_960


def test_a_network_whose_output_does_not_depend_on_its_input_is_refused():
    cut = nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    with pytest.raises(ValueError, match="does not depend on its input"):
        nb201_network.build_model(cut)


def test_memory_rows_worked_by_hand():
    # IDENTITY: stem, the two reduction blocks and the head (the cells are node 0 itself).
    # Parameters as deployed: stem 9*3*16 + 16 = 448; r2: conv_a 9*16*32 + 32 = 4,640, conv_b
    # 9*32*32 + 32 = 9,248, shortcut 16*32 + its zero bias 32 = 544; r3: 18,496, 36,928,
    # 2,112; the last BatchNorm after r3's sum: a MUL and an ADD, 64 + 64; logits 650:
    # 73,194. int8: + 3 bytes per int32 bias of the 8 convs and the classifier (16 + 3 x 32 +
    # 3 x 64 + 10 = 314 biases, 942 bytes): 74,136.
    # r, int8: paper 16,384 (the stem's output alone). Strict: r2's input + its ReLU + conv_a
    # = 16,384 + 16,384 + 8,192 = 40,960. Optimal: the pool first, the input dies with the
    # ReLU: 16,384 + 4,096 + 16,384 = 36,864. TFLM's planner (largest first, later first):
    # r2's ReLU at 0, the stem's output at 16,384; the 8,192-byte buffers from the last:
    # r3's ReLU 0, r2's sum 8,192, r2's shortcut 0, conv_b 32,768 (below it the shortcut,
    # the sum and the stem's output), conv_a 40,960 (below it the ReLU, the stem's output and
    # conv_b): 49,152; the rest fits under it. float32: 4 x each (every size a multiple of
    # TFLM's 16-byte alignment but the logits', which fit in a gap).
    r = dict(r_int8_paper_bytes=16_384, r_int8_strict_bytes=40_960,
             r_int8_optimal_bytes=36_864, r_int8_tflm_bytes=49_152)
    r.update({name.replace("int8", "float32"): 4 * value for name, value in r.items()})
    assert nb201_memory.row(nb201.parse(IDENTITY)) == dict(
        arch=IDENTITY, connected=1, params=73_194, p_int8_bytes=74_136,
        p_float32_bytes=4 * 73_194, **r)
    # ONE_1X1: each cell one conv1x1, 5 x (16*16 + 16) + 5 x (32*32 + 32) + 5 x (64*64 + 64)
    # = 27,440, the last BatchNorm folded into the last one (no parameter): 448 + 27,440 +
    # 71,968 (the reduction blocks, as above) + 650 = 100,506. int8: + 3 bytes per bias: 942 -
    # 192 (no MUL, ADD) + 3 x 5 x 112 = 2,622 -> 103,128. r: the stage-1 cells hold 2 x 16,384,
    # the reduction block as above; TFLM: the stage-1 outputs alternate between 0 and 16,384,
    # and r2's conv_b and conv_a go at 32,768 and 40,960 again: 49,152; the same r as
    # IDENTITY's.
    assert nb201_memory.row(nb201.parse(ONE_1X1)) == dict(
        arch=ONE_1X1, connected=1, params=100_506, p_int8_bytes=103_128,
        p_float32_bytes=4 * 100_506, **r)


@pytest.mark.slow
def test_tflm_allocates_what_the_tflm_schedule_predicts(tmp_path):
    # One cheap network (pools only: no conv in its cells), converted to int8 and loaded in
    # TFLite-Micro. tflm replays TFLM's planner on the deployed tensors: exact. Strict is the
    # head here; where TFLM's planner leaves a gap (docs/nasbench201.md) it is below it.
    pytest.importorskip("tflite_micro")
    import export
    import graph
    cell = nb201.parse(ALL_POOL)
    model = nb201_network.build_model(cell)
    nb201_network.randomize_constants(model, 0)
    images = np.random.default_rng(0).normal(size=(8, *nb201.INPUT_SHAPE)).astype(np.float32)
    measured = export.measure(model, {}, images, str(tmp_path))
    head = measured["tflm_arena_head_bytes"]
    parts = nb201_graph.network_parts(cell, primitives=True)
    assert lifetime.parts_memory(parts, 1, "tflm").activation_bytes == head
    assert 0.9 <= lifetime.parts_memory(parts, 1, "strict").activation_bytes / head <= 1.1
    # The file's constants: nb201_graph.int8_param_bytes and the pooling's two int32 axes.
    assert nb201_graph.int8_param_bytes(graph.join(parts)) + 8 == measured["param_bytes"]
