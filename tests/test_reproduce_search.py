"""reproduce/figure4_rounds.py and figure5_lambda.py: smoke runs, reading search.py out_dirs,
errors, and the shared lambda sweep of reproduce/common.py."""
import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "reproduce"))

import common  # noqa: E402
import figure4_rounds  # noqa: E402
import figure5_lambda  # noqa: E402
import search  # noqa: E402
import train  # noqa: E402

MIB = 2 ** 20


def quiet(line):
    del line


def assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000


def assert_network(stats):
    """A final network or a round's: accuracy in [0, 1], memory positive and finite."""
    assert 0 <= stats["accuracy"] <= 1
    assert all(math.isfinite(stats[m]) and stats[m] > 0 for m in ("p", "r"))


def test_figure4_smoke_writes_the_figure_and_every_round_of_both_lambdas(tmp_path):
    lines = []
    figure4_rounds.run(str(tmp_path), smoke=True, log=lines.append)
    assert_png(tmp_path / "figure4_rounds.png")
    data = json.load(open(tmp_path / "figure4_rounds.json"))
    assert data["synthetic"] and "SYNTHETIC" in data["source"]
    assert [entry["lambda"] for entry in data["runs"]] == [1.0, 0.5]
    for entry in data["runs"]:
        assert [row["round"] for row in entry["rounds"]] == list(range(len(entry["rounds"])))
        assert entry["rounds"]
        for row in entry["rounds"]:
            assert 0 <= row["val_accuracy"] <= 1
            assert row["param_mib"] > 0 and row["activation_mib"] > 0
        assert_network(entry["final"])
    assert all(math.isfinite(v) for v in data["ours"].values())
    assert data["paper"] == {"accuracy_pct": 94.02, "param_saving_pct": 96.7,
                             "activation_saving_pct": 28.2}
    text = "\n".join(lines)
    assert "parameter memory saved by lambda 0.5 (%)" in text and "96.70" in text


def test_figure5_smoke_writes_a_point_per_lambda(tmp_path):
    lines = []
    figure5_lambda.run(str(tmp_path), smoke=True, log=lines.append)
    assert_png(tmp_path / "figure5_lambda.png")
    data = json.load(open(tmp_path / "figure5_lambda.json"))
    assert [p["lambda"] for p in data["runs"]] == [0.0, 0.2, 0.5, 0.8, 1.0]
    for p in data["runs"]:
        assert 0 <= p["error_pct"] <= 100
        assert math.isfinite(p["total_mib"]) and p["total_mib"] > 0
        assert p["total_mib"] == pytest.approx(p["param_mib"] + p["activation_mib"])
    # The stand-in accuracy grows with the parameters: accuracy-only ends biggest and best.
    by_lambda = {p["lambda"]: p for p in data["runs"]}
    assert by_lambda[1.0]["total_mib"] > by_lambda[0.0]["total_mib"]
    assert by_lambda[1.0]["error_pct"] < by_lambda[0.0]["error_pct"]
    assert data["paper"] == {"0.0": {"error_pct": 9.5, "total_mb": 0.5},
                             "1.0": {"error_pct": 4.0, "total_mb": 2.5}}
    assert "> 2.5" in "\n".join(lines)


def fake_out_dir(path, lambda_, bests, improved, finished=True):
    """A search.py out_dir holding what search.run writes about its rounds (no candidates):
    bests is the network kept after each round as (accuracy, r bytes, p bytes)."""
    os.makedirs(path)
    config = {**dataclasses.asdict(search.SearchConfig(lambda_=lambda_, rounds=3, k=2)),
              "train": dataclasses.asdict(train.TrainConfig(epochs=2, filters=8)),
              "data": "npz:fake.npz", "base": None}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(path, "rounds.jsonl"), "w") as f:
        for r, (best, better) in enumerate(zip(bests, improved)):
            stats = dict(zip(("accuracy", "r", "p"), best))
            f.write(json.dumps({"round": r, "base_arch": None, "base": stats, "best_key": "k",
                                "best_arch": None, "best": stats, "best_y": 0.1 * r,
                                "improved": better, "trained": 2, "failed": 0}) + "\n")
    if finished:
        final = dict(zip(("accuracy", "r", "p"), bests[-1]))
        with open(os.path.join(path, "summary.json"), "w") as f:
            json.dump({"rounds": len(bests) - 1, "best_arch": None, "best": final,
                       "round0_best": final, "y_vs_round0": 0.0, "trained": 6}, f)


@pytest.fixture
def literal_runs(tmp_path):
    """lambda 1 grows for three rounds; lambda 0.5 stops after round 1 (base kept); lambda 0
    has not finished (no summary.json yet)."""
    root = tmp_path / "searches"
    fake_out_dir(str(root / "one"), 1.0,
                 [(0.5, 2 * MIB, 4 * MIB), (0.6, 3 * MIB, 8 * MIB), (0.7, 4 * MIB, 10 * MIB)],
                 [True, True, True])
    fake_out_dir(str(root / "half"), 0.5, [(0.55, 2 * MIB, 1 * MIB), (0.55, 2 * MIB, 1 * MIB)],
                 [True, False])
    fake_out_dir(str(root / "zero"), 0.0, [(0.3, 1 * MIB, MIB // 2)], [True], finished=False)
    return str(root)


def test_figure4_reads_each_round_from_literal_out_dirs(tmp_path, literal_runs):
    lines = []
    data = figure4_rounds.run(str(tmp_path / "out"), runs=[literal_runs], log=lines.append)
    one, half = data["runs"]
    assert (one["lambda"], half["lambda"]) == (1.0, 0.5)  # lambda 0 is not in Figure 4
    assert [(row["round"], row["val_accuracy"], row["param_mib"], row["activation_mib"])
            for row in one["rounds"]] == [(0, 0.5, 4, 2), (1, 0.6, 8, 3), (2, 0.7, 10, 4)]
    assert [row["improved"] for row in half["rounds"]] == [True, False]
    assert data["ours"] == pytest.approx({"accuracy_lambda_1": 70.0, "accuracy_lambda_0.5": 55.0,
                                          "param_saving_pct": 90.0,
                                          "activation_saving_pct": 50.0})
    assert "stopped after round 1" in half["note"]
    text = "\n".join(lines)
    assert "base kept" in text and "search.py out_dirs given with --runs" in text
    assert_png(tmp_path / "out" / "figure4_rounds.png")


def test_figure5_plots_every_lambda_found_even_an_unfinished_search(tmp_path, literal_runs):
    data = figure5_lambda.run(str(tmp_path / "out"), runs=[literal_runs], log=quiet)
    points = {p["lambda"]: p for p in data["runs"]}
    assert sorted(points) == [0.0, 0.5, 1.0]
    assert points[1.0]["error_pct"] == pytest.approx(30.0)
    assert points[1.0]["total_mib"] == pytest.approx(14.0)
    assert points[0.0]["total_mib"] == pytest.approx(1.5)  # its last finished round
    assert points[0.0]["note"] == "unfinished: 1 of 3 rounds so far"


def test_figure4_needs_both_lambdas(tmp_path):
    fake_out_dir(str(tmp_path / "only"), 1.0, [(0.5, MIB, MIB)], [True])
    with pytest.raises(ValueError, match=r"no search with lambda 0.5 \(found lambdas 1.0\)"):
        figure4_rounds.run(str(tmp_path / "out"), runs=[str(tmp_path)], log=quiet)


def test_two_searches_with_one_lambda_are_an_error(tmp_path):
    for name in ("a", "b"):
        fake_out_dir(str(tmp_path / name), 0.5, [(0.5, MIB, MIB)], [True])
    with pytest.raises(ValueError, match="two searches with lambda 0.5"):
        figure5_lambda.run(str(tmp_path / "out"), runs=[str(tmp_path)], log=quiet)


def test_a_missing_runs_dir_is_a_one_line_error(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no such directory"):
        figure4_rounds.run(str(tmp_path / "out"), runs=[missing], log=quiet)
    result = subprocess.run([sys.executable, "reproduce/figure5_lambda.py", f"--runs={missing}",
                             f"--out_dir={tmp_path / 'out'}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == \
        f"figure5_lambda.py: --runs: {missing}: no such directory"
    assert "Traceback" not in result.stderr


def test_lambda_runs_gives_each_lambda_its_own_resumable_search(tmp_path, monkeypatch):
    calls = []

    def fake_search(out_dir, scale, lambda_, log=print):
        calls.append((out_dir, scale, lambda_))
        return lambda_

    monkeypatch.setattr(common, "scaled_search", fake_search)
    scale = common.Scale(dataset="npz:x.npz", rounds=5, k=3, epochs=7, filters=6,
                         train_examples=100, controller_epochs=9, seed=2)
    assert common.lambda_runs([0, 0.5], str(tmp_path), scale, quiet) == [0.0, 0.5]
    assert calls == [(str(tmp_path / "lambda_0.0"), scale, 0.0),
                     (str(tmp_path / "lambda_0.5"), scale, 0.5)]


def test_the_default_scale_searches_the_cifar10_subset():
    scale = common.Scale()
    assert scale.dataset.startswith("npz:") and scale.dataset.endswith("cifar10_subset.npz")
    assert "filters 8 (paper 64)" in scale.describe()
