"""grow_trim.py: Eq. 1 and Eq. 2 counts, trim semantics, and candidates that always build."""
import graph
import itertools
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
import vectors
from cells import Arch, Cell

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONV = Cell((0, 0), ("conv3x3", "conv3x3"), "sum", True)


def five(*block):
    return Arch((tuple(block),) * cells.NUM_BLOCKS)


def brute_force_grow(base):
    """Every raw grow candidate of Eq. 1 built and canonicalized, with no shortcut."""
    base = cells.canonical(base)
    locations = max(len(b) for b in base.blocks) + 1
    found = set()
    for i1, i2, op1, op2, combine, output in itertools.product(
            range(locations), range(locations), cells.OP_NAMES, cells.OP_NAMES,
            cells.COMBINES, (True, False)):
        cell = Cell((i1, i2), (op1, op2), combine, output)
        try:
            arch = cells.canonical(Arch(tuple(b + (cell,) for b in base.blocks)))
        except ValueError:
            continue
        if arch != base:
            found.add(arch)
    return found


def test_grow_one_cell_base_counts_by_hand():
    grown, raw = grow_trim.grow(five(CONV))
    # Eq. 1: |I| = 2 locations (block input, cell 1), |L| = 7 ops, |C| = 2 binary choices
    # (sum/concat, output or not): 2^2 * 7^2 * 2^2.
    assert raw == 2 ** 2 * 7 ** 2 * 2 ** 2 == 784
    # Distinct: a layer is one of 2 * 7 = 14 (location, op) pairs; a cell is an unordered pair
    # of them with repetition, 14 * 15 / 2 = 105, summed or concatenated: 210. A new cell
    # outside the block output feeds nothing and prunes back to the base.
    assert len(grown) == 210
    assert all(all(block[-1].output for block in a.blocks) for a in grown)


def test_grow_figure_1b_counts_by_hand():
    grown, raw = grow_trim.grow(cells.FIGURE_1B)
    assert raw == 4 ** 2 * 7 ** 2 * 2 ** 2 == 3136  # |I| = 4: r1, C1, C2, C3
    assert len(grown) == (4 * 7) * (4 * 7 + 1) // 2 * 2 == 812


def test_grow_uneven_blocks_uses_locations_every_block_has():
    short = (CONV,)
    longer = (CONV, Cell((1, 0), ("maxpool3x3", "dwconv3x3"), "concat", True))
    base = Arch((short,) + (longer,) * 4)
    grown, raw = grow_trim.grow(base)
    assert raw == 3 ** 2 * 7 ** 2 * 2 ** 2  # |I| of the largest block: 3
    assert len(grown) == 210  # block 1 has only locations 0 and 1, so the new cell reads those
    assert all(max(i for i in a.blocks[0][-1].inputs) <= 1 for a in grown)


@pytest.mark.parametrize("base", [five(CONV), cells.FIGURE_1B,
                                  Arch(((CONV,),) + cells.FIGURE_1B.blocks[1:])])
def test_grow_shortcuts_change_nothing(base):
    grown, _ = grow_trim.grow(base)
    assert len(set(grown)) == len(grown)
    assert set(grown) == brute_force_grow(base)


def test_trim_one_cell_base_counts_by_hand():
    trimmed, raw = grow_trim.trim(five(CONV))
    # Eq. 2 per block: l = 2 layers, c = 1 cell, e = 1 output; 5 blocks.
    assert raw == 5 * (2 + 1 + 1) == 20
    # Either layer to identity gives the same network; removing the only cell or dropping the
    # only output leaves the block without output: one distinct candidate per block.
    assert len(trimmed) == 5
    for b, arch in enumerate(trimmed):
        changed = [i for i, block in enumerate(arch.blocks) if block != (CONV,)]
        assert len(changed) == 1
        (cell,) = arch.blocks[changed[0]]
        assert sorted(cell.ops) == ["conv3x3", "identity"]


def test_trim_figure_1b_counts_by_hand():
    trimmed, raw = grow_trim.trim(cells.FIGURE_1B)
    assert raw == 5 * (6 + 3 + 2) == 55  # 6 layers, 3 cells, 2 outputs per block
    assert len(trimmed) == 55  # every one distinct and valid
    base = cells.canonical(cells.FIGURE_1B)
    for arch in trimmed:
        assert sum(a != b for a, b in zip(arch.blocks, base.blocks)) == 1


def _with_block1(*block):
    return cells.canonical(Arch((tuple(block),) + cells.FIGURE_1B.blocks[1:]))


def test_trim_removes_cells_and_rewires_to_the_first_input():
    trimmed = set(grow_trim.trim(cells.FIGURE_1B)[0])
    c1, c2, c3 = cells.FIGURE_1B.blocks[0]
    # Canonical form sorts a cell's layers by location, so C2's first input is r1.
    assert cells.canonical(cells.FIGURE_1B).blocks[0][1].inputs == (0, 1)
    # Remove C1: C2 and C3 read r1 where they read C1.
    assert _with_block1(Cell((0, 0), c2.ops, "concat", True),
                        Cell((0, 1), c3.ops, "sum", True)) in trimmed
    # Remove C2: C3 reads r1 instead; C2's place in the output is not taken by the block input.
    assert _with_block1(c1, Cell((1, 0), c3.ops, "sum", True)) in trimmed
    # Remove C3: C1, its first input, joins the block output.
    assert _with_block1(c1._replace(output=True), c2) in trimmed
    # Drop C3 from the output: it feeds nothing, so prune removes it.
    assert _with_block1(c1, c2) in trimmed
    # Drop C2 from the output: C3 still reads it.
    assert _with_block1(c1, c2._replace(output=False), c3) in trimmed
    # Replace C1's first layer by identity.
    assert _with_block1(c1._replace(ops=("identity", "conv1x7_7x1")), c2, c3) in trimmed


def test_round0_generation_is_the_28_distinct_networks_of_49_encodings():
    generation = grow_trim.generate(None)
    # 7 ops, an unordered pair of them summed: 7 * 8 / 2 = 28 networks of 7 * 7 = 49 encodings.
    assert generation.counts() == {"grow_raw": 49, "trim_raw": 0, "grow": 28, "trim": 0}
    assert generation.grow[:2] == (cells.one_cell("conv3x3", "conv3x3"),
                                   cells.one_cell("conv3x3", "dwconv3x3"))
    assert cells.one_cell("dwconv3x3", "conv3x3") not in generation.grow  # not canonical
    assert generation.grow[-1] == cells.one_cell("dilconv3x3", "dilconv3x3")


def test_a_full_block_does_not_grow():
    full = (CONV,) + tuple(Cell((j, j), ("conv3x3", "maxpool3x3"), "sum", True)
                           for j in range(1, cells.MAX_CELLS))
    grown, raw = grow_trim.grow(Arch((full,) + ((CONV,),) * 4))
    assert grown == () and raw == 16 ** 2 * 7 ** 2 * 2 ** 2 == 50_176  # |I| = 15 cells + input


def _networks(seed, rounds=3):
    """A few networks a search could reach: grown and trimmed, seeded."""
    rng = random.Random(seed)
    base = rng.choice(cells.ROUND0)
    networks = [base]
    for _ in range(rounds):
        generation = grow_trim.generate(base)
        base = rng.choice(generation.grow)
        networks.append(base)
        base = rng.choice(grow_trim.generate(base).trim)
        networks.append(base)
    return rng, networks


@pytest.mark.parametrize("seed", [0, 1])
def test_every_sampled_candidate_is_canonical_round_trips_and_measures(seed):
    rng, networks = _networks(seed)
    for base in networks:
        generation = grow_trim.generate(base)
        assert len(set(generation.candidates)) == len(generation.candidates)
        assert cells.canonical(base) not in generation.candidates
        for arch in rng.sample(generation.candidates, 15):
            assert cells.validate(arch) is arch
            assert cells.prune(arch) == arch
            assert cells.canonical(arch) == arch
            assert vectors.from_vectors(vectors.to_vectors(arch)) == arch
            assert arch_json.from_json(json.loads(arch_json.dumps(arch))) == arch
            # Parts scheduled on their own give the whole network's peak and parameters.
            for schedule in ("paper", "strict", "optimal"):
                memory = lifetime.arch_memory(arch, filters=8, schedule=schedule)
                nodes = graph.arch_graph(arch, filters=8,
                                            primitives=schedule in lifetime.DEPLOYED)
                assert memory.activation_bytes == 4 * lifetime.analyze(nodes, schedule).peak
                assert memory.params == sum(n.params for n in nodes)
                assert max(memory.block_peaks) <= memory.activation_bytes
            # TFLM's plan holds at least what is live at once, and no more than every tensor.
            planned = lifetime.arch_memory(arch, filters=8, schedule="tflm").activation_bytes
            assert memory.activation_bytes <= planned <= 4 * sum(n.size for n in nodes)


def by_name(nodes):
    return {n.name: (n.shape, sorted(nodes[i].name for i in n.inputs), n.params) for n in nodes}


def test_sampled_candidates_build_and_match_their_graph_and_memory():
    rng, networks = _networks(seed=2, rounds=2)
    archs = []
    for base in networks[1:3]:  # a grown base and its trim
        generation = grow_trim.generate(base)
        archs += [rng.choice(generation.grow), rng.choice(generation.trim)]
    for arch in archs:
        model = network.build_model(arch, filters=4, num_classes=10)
        # One Keras node per graph node, same names, shapes, edges and folded parameters (Keras
        # lists independent branches in its own order, so compare by name).
        assert by_name(keras_graph.model_graph(model)) == by_name(graph.arch_graph(arch, 4))
        memory = lifetime.arch_memory(arch, filters=4, bytes_per_value=2)
        assert memory.param_bytes == 2 * keras_graph.folded_params(model)
        # The paper schedule of the Keras graph, cell outputs held by build_model's markers.
        built = lifetime.model_memory(model, bytes_per_value=2)
        assert (built.param_bytes, built.activation_bytes) == (
            memory.param_bytes, memory.activation_bytes)


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_cli_prints_counts_and_writes_candidates(tmp_path):
    arch_file = tmp_path / "fig1b.json"
    arch_json.save(cells.FIGURE_1B, arch_file)
    result = _run("grow_trim.py", f"--arch={arch_file}", "--json", f"--out={tmp_path / 'c'}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"grow_raw": 3136, "trim_raw": 55,
                                         "grow": 812, "trim": 55}
    files = sorted(os.listdir(tmp_path / "c"))
    assert len(files) == 812 + 55
    assert files[0] == "grow_00001.json" and files[-1] == "trim_00055.json"
    assert arch_json.load(tmp_path / "c" / files[0]) == grow_trim.grow(cells.FIGURE_1B)[0][0]


def test_cli_names_a_bad_architecture_file(tmp_path):
    bad = tmp_path / "bad.json"
    data = arch_json.to_json(cells.FIGURE_1B)
    data["blocks"][3]["cells"][2]["inputs"] = [1, 3]
    bad.write_text(json.dumps(data))
    result = _run("grow_trim.py", f"--arch={bad}", "--json")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"grow_trim.py: {bad}: block 4, cell 3: input location: layer 2 reads location 3, but "
        "cell 3 may only read locations 0..2 (reading itself or a later cell would make a cycle)"]


def test_graph_modules_do_not_load_tensorflow():
    result = _run("-c", "import sys, arch_json, cells, grow_trim, lifetime, vectors; "
                        "arch_json.load('examples/figure1b.json'); grow_trim.generate("
                        "cells.FIGURE_1B); lifetime.arch_memory(cells.FIGURE_1B); "
                        "vectors.arch_tokens(cells.FIGURE_1B); "
                        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
