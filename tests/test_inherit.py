"""Weight inheritance (inherit.py): grown candidates compute their base's function before any
training; trimmed candidates load without shape errors and keep what they did not trim.

CPU only and tiny: width 4, 8x8 images, parents with random weights and random BatchNorm
statistics (so that no BatchNorm is the identity by accident), a seeded sample of candidates.
"""
import functools

import numpy as np
import pytest
from keras import layers

import cells
import grow_trim
import inherit
import network

FILTERS, SHAPE = 4, (8, 8, 3)
C = cells.Cell

# Each block: a hidden sum cell, then one concat output cell whose identity reads the block
# input. The single output cell gives 2w channels, exactly block 3's and block 5's width, so
# there the parent's identity has no layer; a grown cell widens the block output and the child's
# identity must project.
CONCAT_OUTPUT_THEN_BARE_IDENTITY = cells.Arch(((
    C((0, 0), ("conv3x3", "maxpool3x3"), "sum", False),
    C((0, 1), ("identity", "dwconv3x3"), "concat", True)),) * cells.NUM_BLOCKS)

BASES = {
    "round0_conv_dwconv": cells.one_cell("conv3x3", "dwconv3x3"),
    "figure1b": cells.FIGURE_1B,
    "concat_output_then_bare_identity": CONCAT_OUTPUT_THEN_BARE_IDENTITY,
}
IMAGES = np.random.default_rng(0).normal(size=(2,) + SHAPE).astype(np.float32)


def grown_with(base, cell):
    """`base` grown by `cell` appended to every block, in canonical form."""
    return cells.canonical(cells.Arch(tuple(block + (cell,) for block in base.blocks)))


@functools.lru_cache(maxsize=None)
def parent(base):
    """(canonical `base`, its model with random weights and BatchNorm statistics, its logits)."""
    rng = np.random.default_rng(1)
    base = cells.canonical(base)
    model = network.build_model(base, FILTERS, 10, SHAPE)
    for layer in model.layers:
        for sub in getattr(layer, "layers", [layer]):
            if isinstance(sub, layers.BatchNormalization):
                n = sub.get_weights()[0].shape[0]  # gamma, beta, moving mean, moving variance
                sub.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n),
                                 rng.normal(0, 0.2, n), rng.uniform(0.5, 1.5, n)])
    return base, model, model(IMAGES, training=False).numpy()


def assert_same_function(base_name, child):
    base, model, logits = parent(BASES[base_name])
    child_model, report = inherit.inherit(model, base, child, FILTERS, 10, SHAPE)
    assert report.exact, report.notes
    # Random weights give logits near 100, where float32 sums in another order (other CPUs,
    # other kernels) differ by ~1e-5; a lost or wrong weight moves them by whole units.
    np.testing.assert_allclose(child_model(IMAGES, training=False).numpy(), logits,
                               rtol=0, atol=1e-6 * np.abs(logits).max() + 1e-6)


def sample_grown(name, n):
    """`n` grown candidates of base `name`, seeded; half of them (rounded up), where there are
    enough, with the new cell placed before a base cell in some block (so that block outputs
    are permuted)."""
    base = parent(BASES[name])[0]
    grown = grow_trim.grow(base)[0]
    moved = [a for a in grown if any(cb[:-1] != bb for bb, cb in zip(base.blocks, a.blocks))]
    last = [a for a in grown if a not in moved]
    rng = np.random.default_rng(2)
    picks = [moved[k] for k in rng.permutation(len(moved))[:(n + 1) // 2]]
    return picks + [last[k] for k in rng.permutation(len(last))[:n - len(picks)]]


@pytest.mark.parametrize("name,n", [("round0_conv_dwconv", 3), ("figure1b", 2),
                                    ("concat_output_then_bare_identity", 3)])
def test_grown_candidates_compute_their_base_function(name, n):
    for child in sample_grown(name, n):
        assert_same_function(name, child)


@pytest.mark.parametrize("name,cell", [
    # the same cell as the base's: one of the two keeps the weights, the other is new
    ("round0_conv_dwconv", C((0, 0), ("conv3x3", "dwconv3x3"), "sum", True)),
    # Figure 1b's hidden C1 again, now as an output: the hidden one must keep C1's weights
    ("figure1b", C((0, 0), ("dwconv3x3", "conv1x7_7x1"), "sum", True)),
])
def test_a_grown_cell_identical_to_a_base_cell_preserves_the_function(name, cell):
    assert_same_function(name, grown_with(parent(BASES[name])[0], cell))


def test_a_projection_the_child_cannot_express_is_reported():
    # Block 3's identity reads block 2's w channels and projects them to 2w; a grown sum cell
    # makes block 2's output 2w wide, and the child's identity has no layer left to project.
    base, model, _ = parent(cells.one_cell("conv3x3", cells.IDENTITY))
    child = grown_with(base, C((0, 0), ("conv3x3", "conv3x3"), "sum", True))
    child_model, report = inherit.inherit(model, base, child, FILTERS, 10, SHAPE)
    assert not report.exact
    assert any(note.startswith("block 3,") for note in report.notes), report.notes
    assert np.isfinite(child_model(IMAGES, training=False).numpy()).all()


def weighted_layers(model, block):
    """{name: weights} of the operation layers of block `block` (1-based) that hold weights."""
    return {layer.name: layer.get_weights() for layer in model.layers
            if layer.name.startswith(f"b{block}_c") and layer.get_weights()}


@pytest.mark.parametrize("name,block", [("round0_conv_dwconv", 5),
                                        ("concat_output_then_bare_identity", 2)])
def test_trimmed_candidates_load_and_keep_the_untouched_blocks(name, block):
    """Every trim of one block: it builds, runs, and every block that neither it nor the block
    before it changed keeps every weight of the parent."""
    base, model, _ = parent(BASES[name])
    for child in grow_trim.trim(base)[0]:
        if child.blocks[block - 1] == base.blocks[block - 1]:
            continue  # a trim of another block
        child_model, report = inherit.inherit(model, base, child, FILTERS, 10, SHAPE)
        assert np.isfinite(child_model(IMAGES, training=False).numpy()).all()
        assert report.copied > 0
        for b in range(1, cells.NUM_BLOCKS + 1):
            if b in (block, block + 1):
                continue
            expected = weighted_layers(model, b)
            got = weighted_layers(child_model, b)
            assert got.keys() == expected.keys()
            for layer_name, weights in expected.items():
                for w, e in zip(got[layer_name], weights):
                    np.testing.assert_array_equal(w, e, err_msg=layer_name)


def test_a_cell_leaving_the_block_output_leaves_its_slice_behind():
    # Figure 1b's block output is C2 (concat: 8 channels) then C3 (sum: 4). Drop C2 from block
    # 2's output: block 3's C1 depthwise conv now reads C3's 4 channels, the parent's last 4.
    base, model, _ = parent(BASES["figure1b"])
    block2 = list(base.blocks[1])
    block2[1] = block2[1]._replace(output=False)
    child = cells.Arch(base.blocks[:1] + (tuple(block2),) + base.blocks[2:])
    child_model, report = inherit.inherit(model, base, child, FILTERS, 10, SHAPE)
    name = "b3_c1_l1_dwconv3x3"
    depthwise, _, pointwise = (model.get_layer(name).layers[k].get_weights()[0] for k in (0, 1, 2))
    got = [child_model.get_layer(name).layers[k].get_weights()[0] for k in (0, 2)]
    np.testing.assert_array_equal(got[0], depthwise[:, :, 8:12])  # (3, 3, cin, 1)
    np.testing.assert_array_equal(got[1], pointwise[:, :, 8:12])  # (1, 1, cin, cout)
    assert not report.exact and report.sliced > 0


def test_a_parent_of_another_width_is_a_one_line_value_error():
    base, model, _ = parent(BASES["round0_conv_dwconv"])
    with pytest.raises(ValueError) as error:
        inherit.inherit(model, base, base, 2 * FILTERS, 10, SHAPE)
    assert str(error.value).startswith("width:") and "\n" not in str(error.value)


def test_a_parent_model_of_another_network_is_a_one_line_value_error():
    base, model, _ = parent(BASES["round0_conv_dwconv"])
    other = cells.one_cell("conv3x3", "maxpool3x3")
    with pytest.raises(ValueError, match=r"^parent model: layer b1_c1_l\d_\w+ is in the model"):
        inherit.inherit(model, other, base, FILTERS, 10, SHAPE)
