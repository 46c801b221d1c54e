"""cells.py: the two encodings, validation, prune, canonical form, keys, OPS and the builder."""
import json
import keras_graph
import os
import subprocess
import sys

import numpy as np
import pytest

import arch_json
import cells
import network
import vectors
from cells import Arch, Cell

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def five(*block):
    """The same block in all five positions."""
    return Arch((tuple(block),) * cells.NUM_BLOCKS)


def test_figure_1b_is_the_figure_s_vectors():
    figure = [list(vectors.FIGURE_1B_VECTORS)] * 5
    assert vectors.to_vectors(cells.FIGURE_1B, input_bits=4) == figure
    assert vectors.from_vectors(figure) == cells.FIGURE_1B
    c1, c2, c3 = cells.FIGURE_1B.blocks[0]
    assert c1 == Cell((0, 0), ("dwconv3x3", "conv1x7_7x1"), "sum", False)
    assert c2 == Cell((1, 0), ("avgpool3x3", "dwconv5x5"), "concat", True)
    assert c3 == Cell((1, 2), ("maxpool3x3", "maxpool3x3"), "sum", True)


@pytest.mark.parametrize("o, combine, output", [("001", "sum", False), ("110", "concat", True),
                                                ("100", "sum", True), ("011", "concat", False)])
def test_o_bits_read_output_concat_not_output(o, combine, output):
    block = [("01", "01", "0000001", "0000001", o), ("10", "10", "0000001", "0000001", "100")]
    arch = vectors.from_vectors([block] * 5)
    assert (arch.blocks[0][0].combine, arch.blocks[0][0].output) == (combine, output)
    assert vectors.to_vectors(arch, input_bits=2)[0][0][4] == o


def test_round0_is_49_encodings_of_28_networks():
    assert len(cells.ROUND0) == 49
    assert len(set(cells.ROUND0)) == 49
    assert len({cells.canonical(a) for a in cells.ROUND0}) == 28
    for arch in cells.ROUND0:
        (cell,) = arch.blocks[0]
        assert cell.inputs == (0, 0) and cell.combine == "sum" and cell.output
        assert vectors.to_vectors(arch, 1)[0][0][4] == "100"


@pytest.mark.parametrize("arch", [cells.FIGURE_1B, cells.ROUND0[10],
                                  five(Cell((0, None), ("conv3x3", "identity"), "concat", True),
                                       Cell((1, 1), ("identity", "maxpool3x3"), "concat", True))])
def test_vectors_and_json_round_trip(arch, tmp_path):
    assert vectors.from_vectors(vectors.to_vectors(arch)) == arch
    assert arch_json.from_json(json.loads(arch_json.dumps(arch))) == arch
    assert arch_json.from_json(arch_json.to_json(arch)) == arch
    path = tmp_path / "arch.json"
    arch_json.save(arch, path)
    assert arch_json.load(path) == arch
    narrow = vectors.to_vectors(arch, input_bits=3)
    assert vectors.from_vectors(narrow) == arch


def test_tokens_have_a_fixed_width_and_pad_with_zeros():
    tokens = vectors.arch_tokens(cells.FIGURE_1B)
    # 15 cells a block; a token is 16 + 16 I bits, 7 + 7 L bits and 3 O bits: 49.
    assert tokens.shape == (5, 15, 49)
    assert tokens[:, 3:].sum() == 0
    c1 = tokens[0, 0]
    assert c1[0] == 1 and c1[16] == 1  # I1 = I2 = location 0
    ops = c1[32:46]
    assert np.flatnonzero(ops).tolist() == [1, 7 + 3]  # dwconv3x3, conv1x7_7x1
    assert c1[-3:].tolist() == [0, 0, 1]  # O = 001


def test_prune_removes_dead_layers_and_cells_to_a_fixed_point():
    arch = five(
        Cell((None, None), ("identity", "identity"), "sum", False),  # no layer: removed
        Cell((1, 0), ("conv3x3", "dwconv3x3"), "sum", False),        # loses its layer on 1
        Cell((0, 0), ("maxpool3x3", "conv3x3"), "sum", False),        # feeds nothing: removed
        Cell((2, 2), ("conv3x3", "conv3x3"), "concat", True))
    expected = five(Cell((None, 0), ("identity", "dwconv3x3"), "sum", False),
                    Cell((1, 1), ("conv3x3", "conv3x3"), "concat", True))
    assert cells.prune(arch) == expected
    assert cells.prune(expected) == expected


def test_prune_refuses_a_block_whose_outputs_all_die():
    arch = five(Cell((None, None), ("identity", "identity"), "sum", True))
    with pytest.raises(ValueError, match="block 1: no output"):
        cells.prune(arch)


def test_canonical_equates_encodings_of_one_network():
    c2, c3 = cells.FIGURE_1B.blocks[0][1:]
    swapped = Cell((0, 1), ("dwconv5x5", "avgpool3x3"), "concat", True)
    assert (cells.canonical(Arch(((cells.FIGURE_1B.blocks[0][0], swapped, c3),) * 5))
            == cells.canonical(cells.FIGURE_1B))
    a = Cell((0, 0), ("conv3x3", "conv3x3"), "sum", True)
    b = Cell((0, 0), ("maxpool3x3", "dwconv3x3"), "sum", True)
    join_ab = Cell((1, 2), ("conv3x3", "identity"), "sum", True)
    join_ba = Cell((2, 1), ("conv3x3", "identity"), "sum", True)
    assert cells.canonical(five(a, b, join_ab)) == cells.canonical(five(b, a, join_ba))
    dead = Cell((0, 0), ("conv3x3", "conv3x3"), "sum", False)
    assert cells.canonical(five(a, dead)) == cells.canonical(five(a))
    assert cells.canonical(five(a, b, join_ab)) != cells.canonical(five(a, b, join_ba))


def _json_with(**changes):
    """Figure 1b as JSON, with one cell of block 2 (cell 1 unless told) changed."""
    data = arch_json.to_json(cells.FIGURE_1B)
    cell = data["blocks"][1]["cells"][changes.pop("cell", 1) - 1]
    for key, value in changes.items():
        if value is KeyError:
            del cell[key]
        else:
            cell[key] = value
    return data


MALFORMED_JSON = [
    ({"blocks": arch_json.to_json(cells.FIGURE_1B)["blocks"][:4]}, "block count"),
    ({"blocks": [{"cells": []}] * 5}, "block 1: cell count"),
    ({"cells": []}, "format"),
    (_json_with(inputs=[1, 0]), "block 2, cell 1: input location"),
    (_json_with(cell=2, inputs=[2, 0]), "block 2, cell 2: input location: .*cycle"),
    (_json_with(cell=2, inputs=[0, 3]), "block 2, cell 2: input location"),
    (_json_with(inputs=[-1, 0]), "block 2, cell 1: input location"),
    (_json_with(inputs=[0.0, 0]), "block 2, cell 1: input location"),
    (_json_with(ops=["conv9x9", "conv3x3"]), "block 2, cell 1: unknown op: .*conv9x9"),
    (_json_with(inputs=[0, 0, 0]), "block 2, cell 1: layer count"),
    (_json_with(combine="mul"), "block 2, cell 1: combine"),
    (_json_with(output="yes"), "block 2, cell 1: output flag"),
    (_json_with(combine=KeyError), "block 2, cell 1: format: missing keys \\['combine'\\]"),
    (_json_with(outptu=True), "block 2, cell 1: format: .*unknown keys \\['outptu'\\]"),
]


@pytest.mark.parametrize("data, rule", MALFORMED_JSON)
def test_malformed_json_names_block_cell_and_rule(data, rule):
    with pytest.raises(ValueError, match=rule):
        arch_json.from_json(data)


def test_a_block_with_no_output_is_refused():
    data = arch_json.to_json(cells.FIGURE_1B)
    block = [dict(c, output=False) for c in data["blocks"][2]["cells"]]
    data["blocks"][2]["cells"] = block
    with pytest.raises(ValueError, match="block 3: no output"):
        arch_json.from_json(data)


def test_too_many_cells_names_the_limit():
    block = (Cell((0, 0), ("conv3x3", "conv3x3"), "sum", True),) * 16
    with pytest.raises(ValueError, match="block 1: cell count: 16 cells, at most 15"):
        cells.validate(Arch((block,) * 5))


def _vectors_with(cell_vectors):
    return [[cell_vectors]] + [[vectors.FIGURE_1B_VECTORS[0][:4] + ("100",)]] * 4


MALFORMED_VECTORS = [
    (("0011", "0001", "0000010", "0001000", "100"), "block 1, cell 1: one-hot: I1 0011 .*more"),
    (("0001", "0001", "000010", "0001000", "100"), "block 1, cell 1: one-hot: L1 has 6 bits"),
    (("0001", "0001", "0000010", "0011000", "100"), "block 1, cell 1: one-hot: L2"),
    (("0001", "0001", "0000010", "0001000", "111"), "block 1, cell 1: one-hot: O '111'"),
    (("0001", "0001", "0000010", "0001000", "010"), "block 1, cell 1: one-hot: O '010'"),
    (("0002", "0001", "0000010", "0001000", "100"), "block 1, cell 1: one-hot: I1 .*0/1"),
    (("0010", "0001", "0000010", "0001000", "100"), "block 1, cell 1: input location"),
    (("0" * 17, "0001", "0000010", "0001000", "100"), "block 1, cell 1: one-hot: I1 has 17"),
    (("0001", "0001", "0000010", "0001000"), "block 1, cell 1: one-hot: a cell is 5 vectors"),
]


@pytest.mark.parametrize("cell_vectors, rule", MALFORMED_VECTORS)
def test_malformed_vectors_name_block_cell_and_rule(cell_vectors, rule):
    with pytest.raises(ValueError, match=rule):
        vectors.from_vectors(_vectors_with(cell_vectors))


def test_load_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.json: no such architecture file"):
        arch_json.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not JSON"):
        arch_json.load(bad)
    bad.write_text(json.dumps(_json_with(ops=["conv9x9", "conv3x3"])))
    with pytest.raises(ValueError, match="bad.json: block 2, cell 1: unknown op"):
        arch_json.load(bad)


def all_layers_removed_in_block(b):
    """Figure 1b as JSON with every layer of block `b` (1-based) removed: it prunes to nothing."""
    data = arch_json.to_json(cells.FIGURE_1B)
    for cell in data["blocks"][b - 1]["cells"]:
        cell["inputs"] = [None, None]
    return data


def test_load_refuses_a_file_that_is_not_utf8_text(tmp_path):
    path = tmp_path / "utf16.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match=r"utf16.json: not UTF-8 text \(byte 0 is 0xff\)"):
        arch_json.load(path)


def test_load_refuses_a_block_that_prunes_to_nothing(tmp_path):
    path = tmp_path / "empty_block.json"
    path.write_text(json.dumps(all_layers_removed_in_block(3)))
    with pytest.raises(ValueError, match="empty_block.json: block 3: no output: every output "
                                         "cell is dead after pruning"):
        arch_json.load(path)


def test_load_keeps_the_file_s_encoding_dead_cells_included(tmp_path):
    dead = Cell((0, 0), ("conv3x3", "conv3x3"), "sum", False)
    arch = five(Cell((0, 0), ("maxpool3x3", "conv3x3"), "sum", True), dead)
    arch_json.save(arch, tmp_path / "dead.json")
    assert arch_json.load(tmp_path / "dead.json") == arch


def test_load_refuses_a_directory_in_one_line(tmp_path):
    with pytest.raises(ValueError) as error:
        arch_json.load(tmp_path)
    assert str(error.value) == f"{tmp_path}: cannot read (Is a directory)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_load_refuses_an_unreadable_file(tmp_path):
    path = tmp_path / "secret.json"
    arch_json.save(cells.FIGURE_1B, path)
    path.chmod(0)
    with pytest.raises(ValueError, match="secret.json: cannot read \\(Permission denied\\)"):
        arch_json.load(path)


def bad_architecture_files(tmp_path):
    """(path, the start of the rule its one-line error names) for each way a file can be bad."""
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(b"\xff\xfe{")
    empty = tmp_path / "empty_block.json"
    empty.write_text(json.dumps(all_layers_removed_in_block(2)))
    return [(utf16, "not UTF-8 text"), (empty, "block 2: no output"),
            (tmp_path, "cannot read"), (tmp_path / "missing.json", "no such architecture file")]


@pytest.mark.parametrize("script", ["grow_trim.py", "lifetime.py"])
def test_clis_reject_bad_architecture_files_in_one_line(script, tmp_path):
    for path, rule in bad_architecture_files(tmp_path):
        result = subprocess.run([sys.executable, script, f"--arch={path}"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1, (path, result.stderr)
        (line,) = result.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith(f"{script}: {path}: {rule}"), line


def test_key_is_the_same_for_two_encodings_of_one_network():
    assert (arch_json.key(cells.one_cell("dwconv3x3", "conv3x3"))
            == arch_json.key(cells.one_cell("conv3x3", "dwconv3x3")))
    c1, c2, c3 = cells.FIGURE_1B.blocks[0]
    swapped = Cell((0, 1), ("dwconv5x5", "avgpool3x3"), "concat", True)
    assert arch_json.key(Arch(((c1, swapped, c3),) * 5)) == arch_json.key(cells.FIGURE_1B)
    assert arch_json.key(cells.one_cell("conv3x3", "conv3x3")) != arch_json.key(cells.FIGURE_1B)


def test_key_is_compact_json_of_the_canonical_form():
    block = ('{"cells":[{"inputs":[0,0],"ops":["conv3x3","conv3x3"],"combine":"sum",'
             '"output":true}]}')
    assert arch_json.key(cells.one_cell("conv3x3", "conv3x3")) == (
        '{"blocks":[' + ",".join([block] * 5) + "]}")


def test_op_bits_follow_the_paper_s_order_and_identity_comes_last():
    assert cells.OP_NAMES == ("conv3x3", "dwconv3x3", "dwconv5x5", "conv1x7_7x1",
                              "avgpool3x3", "maxpool3x3", "dilconv3x3")
    assert list(cells.OPS) == list(cells.OP_NAMES) + ["identity"]


def test_op_params_by_hand():
    # conv 3x3 + BN folded: 9 * 3 * 4 kernel + 4 biases = 112.
    assert cells.op_params("conv3x3", 3, 4) == 112
    # depthwise 5x5 + BN: 25 * 3 + 3 = 78; pointwise 1x1 + BN: 3 * 4 + 4 = 16; 78 + 16 = 94.
    assert cells.op_params("dwconv5x5", 3, 4) == 94
    # 1x1: 3 * 4 + 4 = 16; 1x7 and 7x1, 4 -> 4 each: 7 * 4 * 4 + 4 = 116; 16 + 2 * 116 = 248.
    assert cells.op_params("conv1x7_7x1", 3, 4) == 248
    # 1x1 conv + BN, then a pool, which has no parameter: 3 * 4 + 4 = 16.
    assert cells.op_params("maxpool3x3", 3, 4) == 16


@pytest.mark.parametrize("op", list(cells.OPS))
@pytest.mark.parametrize("cin, filters, stride", [(3, 4, 1), (8, 4, 2), (4, 6, 2)])
def test_op_params_count_what_build_op_builds(op, cin, filters, stride):
    import keras
    layer = network.build_op(op, filters, stride, "op")
    out = layer(keras.Input((8, 8, cin)))
    assert tuple(out.shape) == (None, 8 // stride, 8 // stride, filters)
    # folded_params counts the Keras layer's own weights: an independent count.
    assert cells.op_params(op, cin, filters) == keras_graph.folded_params(layer)


# One network per op, each op once as the first layer and once as the second.
ONE_PER_OP = [cells.one_cell(op, cells.OP_NAMES[(k + 1) % 7])
              for k, op in enumerate(cells.OP_NAMES)]


@pytest.mark.parametrize("arch", ONE_PER_OP, ids=lambda a: "+".join(a.blocks[0][0].ops))
def test_round0_networks_validate_prune_to_themselves_and_build(arch):
    assert cells.prune(cells.validate(arch)) == arch
    model = network.build_model(arch, filters=4, num_classes=7, input_shape=(16, 16, 3))
    assert model.output.shape == (None, 7)
    # Five blocks with strides 1, 2, 1, 2, 1 and widths w, w, 2w, 2w, 4w: 16 / 4 = 4, 4 * 4.
    last = model.get_layer("gap").input
    assert tuple(last.shape[1:]) == (4, 4, 16)


@pytest.fixture(scope="module")
def figure_1b_model():
    return network.build_model(cells.FIGURE_1B, filters=4)


def test_build_model_runs_figure_1b_forward(figure_1b_model):
    logits = figure_1b_model(np.zeros((2, 32, 32, 3), np.float32))
    assert logits.shape == (2, 10)
    assert figure_1b_model.get_layer("b2_out").output.shape == (None, 16, 16, 3 * 4)


def test_build_model_marks_cell_and_block_outputs_with_weightless_layers(figure_1b_model):
    import keras
    model = figure_1b_model
    marks = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Identity)]
    assert sorted(marks)[:4] == ["b1_c1_output", "b1_c2_output", "b1_c3_output", "b1_output"]
    assert len(marks) == 5 * 4
    assert all(not model.get_layer(name).weights for name in marks)
    for name in marks:
        assert cells.OUTPUT_MARKER.fullmatch(name)
    assert cells.OUTPUT_MARKER.fullmatch("b2_c3_output").groups() == ("b2", "_c3")
    assert cells.OUTPUT_MARKER.fullmatch("b2_output").groups() == ("b2", None)
    assert cells.OUTPUT_MARKER.fullmatch("b2_out") is None


def test_build_model_parameter_count_by_hand():
    model = network.build_model(cells.one_cell("conv3x3", "maxpool3x3"), filters=4)
    # Keras counts BN as 4 values per channel (scale, shift, mean, variance).
    # stem 3 -> 4: 9*3*4 + 16 = 124. Blocks: conv3x3 + BN, then 1x1 conv + BN before the pool.
    # b1, b2 (4 -> 4): (9*4*4 + 16) + (4*4 + 16) = 192 each; b3 (4 -> 8): 320 + 64 = 384;
    # b4 (8 -> 8): 608 + 96 = 704; b5 (8 -> 16): 1216 + 192 = 1408; dense 16*10 + 10 = 170.
    # 124 + 192 + 192 + 384 + 704 + 1408 + 170 = 3174, markers add nothing.
    assert model.count_params() == 3174
