"""reproduce/: the memory-only scripts (Figure 3, Tables 1 and 2) and the baseline builders."""
import json
import keras_graph
import math
import os

import pytest

import cells
import lifetime
import readers
from conftest import MIB, write_search
from reproduce import baselines
from reproduce import figure3_lifetime
from reproduce import paper
from reproduce import table1_cifar10
from reproduce import table2_imagenet


def trainable(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def test_resnet56_and_resnet110_have_the_published_parameter_counts():
    # He et al. 2016 print 0.85 M and 1.7 M (Table 6, option A shortcuts: no parameters).
    r56, r110 = baselines.resnet_cifar(56), baselines.resnet_cifar(110)
    assert round(trainable(r56) / 1e6, 2) == 0.85 and round(trainable(r110) / 1e6, 1) == 1.7
    # Exactly: kernels + dense + BatchNorm's scale and shift.
    assert (trainable(r56), trainable(r110)) == (853_018, 1_727_962)
    # Folded, BN adds one bias per channel instead of two: 16 + 6n(16 + 32 + 64) / 3 fewer.
    assert lifetime.model_memory(r56).params == 853_018 - (16 + 18 * 112)


def test_resnet_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="ResNet depth 55: must be 6n"):
        baselines.resnet_cifar(55)


def test_channel_shuffle_costs_no_memory_and_reshapes_are_fused(monkeypatch):
    model = baselines.shufflenet_v1("1.0x", 10, (32, 32, 3), True, (1, 1, 1))
    names = [node.name for node in keras_graph.model_graph(model)]
    assert any(n.startswith("permute") for n in names)
    assert not any(n.startswith("reshape") for n in names)
    with_shuffle = lifetime.model_memory(model)
    monkeypatch.setattr(baselines, "_channel_shuffle", lambda x, groups: x)
    without = lifetime.model_memory(baselines.shufflenet_v1("1.0x", 10, (32, 32, 3), True,
                                                         (1, 1, 1)))
    assert with_shuffle == without


def test_figure3_prints_the_paper_row_and_peak_4(tmp_path):
    lines = []
    result = figure3_lifetime.run(str(tmp_path), filters=4, bytes_per_value=4,
                                  log=lines.append)
    text = "\n".join(lines)
    assert "memory row: 1, 3, 2, 4, 3, 4, 3, 1, peak 4" in text
    with open(tmp_path / "figure3_lifetime.json") as f:
        written = json.load(f)
    assert written == json.loads(json.dumps(result))
    assert written["ours"]["memory"] == [1, 3, 2, 4, 3, 4, 3, 1] == written["paper"]["memory"]
    assert written["ours"]["peak"] == 4 and written["matches_paper"]
    assert written["ours"]["names"][0].startswith("r1") and len(written["ours"]["names"]) == 11
    # Width 4 on 32x32, float32: a layer output is 16 KiB; the peak holds 5 of them (Fig. 3's
    # peak of 4 nodes, one of them the 2-unit concat of C2).
    assert written["real_sizes"]["peak_kib"] == 5 * 16
    for png in ("figure3_lifetime.png", "figure3_lifetime_w4.png"):
        assert os.path.getsize(tmp_path / png) > 1000


def check_ours(ours):
    values = [ours["total_mib"], ours["param_mib"], ours["activation_mib"]]
    assert all(math.isfinite(v) and v > 0 for v in values), ours


def read_rows(path):
    with open(path) as f:
        data = json.load(f)
    return data, {row["model"]: row for row in data["rows"]}


def test_table1_smoke_writes_every_paper_row(tmp_path):
    table1_cifar10.run(str(tmp_path), smoke=True, log=lambda line: None)
    data, rows = read_rows(tmp_path / "table1_cifar10.json")
    assert list(rows) == list(paper.TABLE1)
    for name, (total, params, top1) in paper.TABLE1.items():
        assert rows[name]["paper"] == {"total_mb": total, "params_mb": params, "top1": top1}
    for name in ("MobileNet-V2", "ResNet-110", "ResNet-56", "ShuffleNet"):
        check_ours(rows[name]["ours"])
        assert "SMOKE" in rows[name]["ours"]["built"]
    for name in table1_cifar10.NOT_BUILT + ("MemNAS (lambda=0.5)", "MemNAS (lambda=0.8)"):
        assert rows[name]["ours"] is None
    assert data["smoke"] and "--runs" in "\n".join(data["notes"])
    assert os.path.getsize(tmp_path / "table1_cifar10.png") > 1000


def test_memnas_rows_come_from_the_searches_final_networks(tmp_path):
    arch = cells.one_cell("conv3x3", "conv3x3")
    path = write_search(tmp_path / "lam05", 0.5, [(0.5, 1, 1)], arch=arch, filters=8)
    runs = readers.find_runs([path])
    rows, notes = table1_cifar10.memnas_rows(runs, 4, "paper")
    ours, extra = rows["MemNAS (lambda=0.5)"]
    assert ours["filters"] == 64 and ours["accuracy"] == 50.0
    # By hand at w = 64, BN folded: stem 9*3*64 + 64 = 1,792; per block two 3x3 convs from
    # cin to f, 2 * (9 cin f + f): 73,856 (64 -> 64) twice, 147,712 (64 -> 128), 295,168
    # (128 -> 128), 590,336 (128 -> 256); head 256*10 + 10 = 2,570. Sum: 1,185,290.
    assert ours["params"] == 1_185_290
    assert ours["param_mib"] == pytest.approx(1_185_290 * 4 / MIB)
    # The peak is block 1's two 32x32x64 conv outputs alive together: 2 * 65,536 values.
    assert ours["activation_mib"] == pytest.approx(2 * 65_536 * 4 / MIB)  # 0.5 MiB
    assert [row["ours"]["filters"] for row in extra] == [8]
    assert "SCALED-DOWN" in notes[0]

    imagenet, notes = table2_imagenet.memnas_rows(runs, 32, 4, "paper")
    assert imagenet["MemNAS-A"]["search_result"] and imagenet["MemNAS-A"]["arch"] == path
    assert not imagenet["MemNAS-B"]["search_result"]  # no lambda 0.8 search: Figure 1b
    assert "NOT a search result" in notes[1]
    check_ours(imagenet["MemNAS-A"])


def test_imagenet_template_copies_blocks_of_the_same_stride():
    sources = table2_imagenet.source_blocks()
    assert len(sources) == len(table2_imagenet.IMAGENET_STRIDES) == 16
    assert [cells.BLOCK_STRIDES[j] for j in sources] == list(table2_imagenet.IMAGENET_STRIDES)
    assert 224 // math.prod(table2_imagenet.IMAGENET_STRIDES) == 7
    assert max(table2_imagenet.IMAGENET_WIDTHS) * table2_imagenet.IMAGENET_FILTERS == 256
    assert sources[0] == 1 and sources[-1] == 4  # first block like b2, last like b5


def test_table2_smoke_writes_every_paper_row(tmp_path):
    table2_imagenet.run(str(tmp_path), smoke=True, log=lambda line: None)
    data, rows = read_rows(tmp_path / "table2_imagenet.json")
    assert list(rows) == list(paper.TABLE2)
    built = ("MobileNet V2 (1.0x)", "ShuffleNet V1 (1.5x)", "ShuffleNet V1 (2.0x)", "MemNAS-A",
             "MemNAS-B")
    for name in built:
        check_ours(rows[name]["ours"])
    assert all(row["ours"] is None for name, row in rows.items() if name not in built)
    assert not rows["MemNAS-A"]["ours"]["search_result"]
    assert data["template"]["strides"] == list(table2_imagenet.IMAGENET_STRIDES)
    assert os.path.getsize(tmp_path / "table2_imagenet.png") > 1000


def test_bad_input_is_a_value_error_naming_the_problem(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ValueError, match=f"--runs: {missing}: no such directory"):
        table2_imagenet.run(str(tmp_path), runs=[missing], smoke=True)
    with pytest.raises(ValueError, match="--filters must be at least 1"):
        figure3_lifetime.run(str(tmp_path), filters=0)
    # table1_cifar10.py's command line: tests/test_reproduce_search.py.
