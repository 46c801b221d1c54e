"""reproduce/figure4_rounds.py and figure5_lambda.py: smoke runs (synthetic searches through
search.run), reading search.py out_dirs, errors, and the shared lambda sweep of sweep.py."""
import json
import math
import os

import pytest

import readers
from conftest import MIB, ROOT, assert_one_line_error, run_mains, run_script, write_search
from reproduce import figure4_rounds
from reproduce import figure5_lambda
from reproduce import sweep


def quiet(line):
    del line


def assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000


def assert_network(stats):
    """A final network or a round's: accuracy in [0, 1], memory positive and finite."""
    assert 0 <= stats["accuracy"] <= 1
    assert all(math.isfinite(stats[m]) and stats[m] > 0
               for m in ("param_bytes", "activation_bytes"))


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
    # The stand-in accuracy grows with the parameters: accuracy-only ends biggest and best.
    by_lambda = {p["lambda"]: p for p in data["runs"]}
    assert by_lambda[1.0]["total_mib"] > by_lambda[0.0]["total_mib"]
    assert by_lambda[1.0]["error_pct"] < by_lambda[0.0]["error_pct"]
    assert data["paper"] == {"0.0": {"error_pct": 9.5, "total_mb": 0.5},
                             "1.0": {"error_pct": 4.0, "total_mb": 2.5}}
    assert "> 2.5" in "\n".join(lines)
    # The overlay of the searches' Pareto fronts: each front non-empty and non-dominated, its
    # final network (no final training here) one of its points.
    assert_png(tmp_path / "figure5_fronts.png")
    for p in data["runs"]:
        front = p["front"]
        assert front and len(front) <= p["trained"]
        assert {q["accuracy_kind"] for q in front} == {"validation"}
        totals = [q["total_mib"] for q in front]
        assert totals == sorted(totals)
        assert all(b["accuracy"] > a["accuracy"] for a, b in zip(front, front[1:])
                   if b["total_mib"] > a["total_mib"])
        accuracy = 1 - p["error_pct"] / 100  # float rounding: 1 - (1 - a) need not be a
        assert any(q["total_mib"] <= p["total_mib"] and q["accuracy"] >= accuracy - 1e-12
                   for q in front)


@pytest.fixture
def literal_runs(tmp_path):
    """lambda 1 grows for three rounds; lambda 0.5 stops after round 1 (base kept); lambda 0
    has not finished (no summary.json yet)."""
    root = tmp_path / "searches"  # (accuracy, param_bytes, activation_bytes) after each round
    write_search(root / "one", 1.0,
                 [(0.5, 4 * MIB, 2 * MIB), (0.6, 8 * MIB, 3 * MIB), (0.7, 10 * MIB, 4 * MIB)])
    write_search(root / "half", 0.5, [(0.55, 1 * MIB, 2 * MIB), (0.55, 1 * MIB, 2 * MIB)],
                 [True, False])
    write_search(root / "zero", 0.0, [(0.3, MIB // 2, 1 * MIB)], finished=False)
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


def test_a_tested_final_network_reports_its_test_accuracy(tmp_path):
    write_search(tmp_path / "one", 1.0, [(0.5, MIB, MIB), (0.6, MIB, MIB)], test_accuracy=0.8)
    write_search(tmp_path / "half", 0.5, [(0.5, MIB, MIB)])
    lines = []
    data = figure5_lambda.run(str(tmp_path / "out"), runs=[str(tmp_path)], log=lines.append)
    points = {p["lambda"]: p for p in data["runs"]}
    assert points[1.0]["error_pct"] == pytest.approx(20.0)  # 1 - test, not 1 - validation
    assert points[0.5]["error_pct"] == pytest.approx(50.0)
    assert points[1.0]["accuracy_kind"] == ("test accuracy after the final training (5 epochs "
                                            "from scratch on training + validation data)")
    # No candidates in these out_dirs: lambda 1's front is its tested final network alone.
    assert [(q["accuracy"], q["accuracy_kind"]) for q in points[1.0]["front"]] == [(0.8, "test")]
    assert points[0.5]["front"] == []
    assert "validation accuracy in the search" in points[0.5]["accuracy_kind"]
    assert "ours: error = 1 - the accuracy of each search (lambda 0.5: validation" in \
        "\n".join(lines)


def test_figure4_needs_both_lambdas(tmp_path):
    write_search(tmp_path / "only", 1.0, [(0.5, MIB, MIB)])
    with pytest.raises(ValueError, match=r"no search with lambda 0.5 \(found lambdas 1.0\)"):
        figure4_rounds.run(str(tmp_path / "out"), runs=[str(tmp_path)], log=quiet)


def test_two_searches_with_one_lambda_are_an_error(tmp_path):
    for name in ("a", "b"):
        write_search(tmp_path / name, 0.5, [(0.5, MIB, MIB)])
    with pytest.raises(ValueError, match="two searches with lambda 0.5"):
        figure5_lambda.run(str(tmp_path / "out"), runs=[str(tmp_path)], log=quiet)


@pytest.mark.slow
def test_a_missing_runs_dir_is_a_one_line_error(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no such directory"):
        figure4_rounds.run(str(tmp_path / "out"), runs=[missing], log=quiet)
    result = run_script("reproduce/figure5_lambda.py", f"--runs={missing}",
                        f"--out_dir={tmp_path / 'out'}")
    assert_one_line_error(result, f"figure5_lambda.py: --runs: {missing}: no such directory")


def test_lambda_runs_gives_each_lambda_its_own_resumable_search(tmp_path, monkeypatch):
    calls = []

    def fake_search(out_dir, scale, lambda_, log=print, round0_cache=None):
        calls.append((out_dir, scale, lambda_, round0_cache))
        return lambda_

    monkeypatch.setattr(sweep, "scaled_search", fake_search)
    scale = sweep.Scale(dataset="npz:x.npz", rounds=5, k=3, epochs=7, filters=6,
                        train_examples=100, controller_epochs=9, seed=2)
    assert sweep.lambda_runs([0, 0.5], str(tmp_path), scale, quiet) == [0.0, 0.5]
    shared = str(tmp_path / "round0")  # round 0 does not depend on lambda: trained once
    assert calls == [(str(tmp_path / "lambda_0.0"), scale, 0.0, shared),
                     (str(tmp_path / "lambda_0.5"), scale, 0.5, shared)]


def test_smoke_searches_are_search_py_out_dirs_made_by_search_run(tmp_path):
    figure4_rounds.run(str(tmp_path), smoke=True, log=quiet)
    run = readers.load_run(str(tmp_path / "smoke_searches" / "lambda_0.5"))
    assert run.config.evaluation == sweep.StandInEvaluator.description
    assert run.config.search.strategy == "memory"
    assert os.path.exists(tmp_path / "smoke_searches" / "lambda_0.5" / "selected_round00.json")
    # Round 0 is scored against chance accuracy of 10 classes (search.run's rule), not a copy.
    assert run.rounds[0].base.accuracy == 0.1
    # The stand-in of the parameter count, e.g. 0 parameters would give 0.95 - 0.85 = 0.10.
    assert sweep.stand_in_accuracy(0) == pytest.approx(0.10)
    assert sweep.stand_in_accuracy(40_000) == pytest.approx(0.95 - 0.85 / math.e)


@pytest.mark.slow
def test_tables_1_and_2_say_which_script_makes_the_shared_sweep(tmp_path):
    # From an empty directory: the repository may hold the sweep (runs/ is where it goes). Any
    # other missing folder is named as it is.
    missing = str(tmp_path / "nope")
    sweep_missing, other_missing = run_mains(
        os.path.join(ROOT, "reproduce", "table1_cifar10.py"),
        [f"--runs={sweep.SEARCHES}", f"--out_dir={tmp_path / 'out'}"],
        [f"--runs={missing}", f"--out_dir={tmp_path / 'out'}"], cwd=tmp_path)
    assert_one_line_error(sweep_missing, f"table1_cifar10.py: --runs: {sweep.SEARCHES}: no such "
                                         f"directory (python reproduce/figure5_lambda.py runs "
                                         f"the shared lambda sweep into {sweep.SEARCHES})")
    assert_one_line_error(other_missing,
                          f"table1_cifar10.py: --runs: {missing}: no such directory")
