"""reproduce/table3_controller.py (Table 3): the --smoke run and what it writes, the split of
the candidates by round, and one-line errors; and the same on NAS-Bench-201
(reproduce/table3_nb201.py, --benchmark=nb201)."""

import json
import math
import os

import pytest

from conftest import assert_one_line_error, run_mains
from reproduce import table3
from reproduce import table3_controller
from reproduce import table3_nb201

SCRIPT = "reproduce/table3_controller.py"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("table3")
    lines = []
    table3_controller.run(str(out_dir), budget=table3.Budget(
        **table3_controller.SMOKE_BUDGET), smoke=True, log=lines.append)
    with open(out_dir / "table3_controller.json") as f:
        return out_dir, json.load(f), "\n".join(lines)


@pytest.mark.slow
def test_smoke_reports_every_controller_over_seeds_with_metrics_in_range(smoke):
    _, data, _ = smoke
    assert list(data["ours"]) == ["Single-RNN", "Double-RNN", "SCC"]
    for label, metrics in data["ours"].items():
        for name, value in metrics.items():
            low = -1.0 if name in ("kendall_tau", "spearman_rho") else 0.0
            assert len(value["values"]) >= 2, (label, name)
            for v in value["values"] + [value["mean"]]:
                assert v is not None and math.isfinite(v) and low <= v <= 1.0, (label, name, v)
            assert math.isfinite(value["std"]) and value["std"] >= 0
    assert data["paper"]["SCC"]["AP@50"] == 0.196
    assert data["data"]["synthetic"] is True


@pytest.mark.slow
def test_smoke_says_the_held_out_round_is_too_small_for_k_100(smoke):
    _, data, text = smoke
    n = data["data"]["holdout_candidates"]
    assert 50 <= n < 100  # the smoke's held-out round is 60 candidates
    assert data["data"]["k"] == {"AP@50": 50, "AP@100": n, "NDCG@50": 50, "NDCG@100": n}
    assert f"AP@100 (k={n})" in text and f"{n} < 100 candidates" in text
    assert data["data"]["train_rounds"] == [0, 1] and data["data"]["holdout_round"] == 2


@pytest.mark.slow
def test_smoke_writes_a_non_empty_png(smoke):
    out_dir, data, _ = smoke
    png = out_dir / "table3_controller.png"
    assert data["png"] == str(png)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_summaries_are_the_mean_and_spread_over_seeds_with_nan_left_out():
    reports = [dict.fromkeys(table3.METRICS, v) for v in (0.2, 0.4, float("nan"))]
    summary = table3.summarize(reports)["AP@50"]
    # Mean of 0.2 and 0.4; population std: sqrt(((0.2 - 0.3)^2 + (0.4 - 0.3)^2) / 2) = 0.1.
    assert summary["mean"] == pytest.approx(0.3) and summary["std"] == pytest.approx(0.1)
    assert summary["values"] == [0.2, 0.4, None]


def _record(round_, key):
    return {"run": 0, "round": round_, "key": key, "arch": None, "y": 0.0,
            "val_accuracy": 0.1, "memory_score": 0.0}


def test_held_out_round_is_never_in_training_nor_are_its_networks():
    records = [_record(0, "a"), _record(0, "b"), _record(1, "c"), _record(1, "a"),
               _record(2, "a"), _record(2, "d"), _record(3, "e")]
    split = table3_controller.split_by_round(records, holdout_round=2)
    assert [rec["key"] for rec in split.holdout] == ["a", "d"]
    assert [(rec["round"], rec["key"]) for rec in split.train] == [(0, "b"), (1, "c")]
    assert split.dropped == 2  # both earlier copies of network "a"
    assert not {id(rec) for rec in split.train} & {id(rec) for rec in split.holdout}


def test_default_held_out_round_is_the_last_and_needs_candidates_and_earlier_rounds():
    records = [_record(0, "a"), _record(0, "b"), _record(1, "c"), _record(1, "d")]
    assert table3_controller.split_by_round(records).holdout_round == 1
    with pytest.raises(ValueError, match="round 1 has 1 trained candidates"):
        table3_controller.split_by_round(records[:3])
    with pytest.raises(ValueError, match="no earlier round than 0"):
        table3_controller.split_by_round(records, holdout_round=0)


@pytest.mark.parametrize("n, says", [
    (60, "are at k = 60 (ranking.ranking_report clips k); AP@60 is 1.0 for any ranking"),
    (100, "exactly 100 candidates: AP@100 is 1.0 for any ranking"),
    (150, None),
])
def test_notes_say_when_ap_at_100_cannot_tell_rankings_apart(n, says):
    split = table3_controller.Split([_record(0, "a")], [_record(1, str(i)) for i in range(n)],
                                    1, 0)
    lines = table3_controller.notes([], "given", split, table3.Budget(), "y", {})
    trivial = [line for line in lines if "is 1.0 for any ranking" in line]
    if says is None:
        assert trivial == []
    else:
        assert len(trivial) == 1 and says in trivial[0]


@pytest.mark.parametrize("target", table3_controller.TARGETS)
def test_notes_explain_the_memory_row_only_when_it_is_shown(target):
    holdout = [dict(_record(1, str(i)), y=-i, val_accuracy=i / 150, memory_score=-i)
               for i in range(150)]
    split = table3_controller.Split([_record(0, "a")], holdout, 1, 0)
    refs = table3_controller.references(split, target)
    lines = table3_controller.notes([], "given", split, table3.Budget(), target, refs)
    mentions_memory = any("memory terms" in line for line in lines)
    assert mentions_memory == (target == "y") == (table3_controller.MEMORY_ROW in refs)


BUDGET_FLAGS = ["--seeds=0", "--controller_epochs=0", "--learning_rate=0"]
NB201_CASES = {  # arguments ({tmp}: the fixture's folder) -> the last line of stderr
    "--benchmark=nb101":
        "table3_controller.py: --benchmark: must be nb201 or nb201:PATH, got 'nb101'",
    "--benchmark=nb201:{tmp}/missing.csv":
        "table3_controller.py: {tmp}/missing.csv: no such file",
    "--benchmark=nb201 --runs=somewhere":
        "table3_controller.py: --runs: not used with --benchmark (its cells are the data)",
}


@pytest.fixture(scope="module")
def command_line_errors(tmp_path_factory):
    """The script's one-line errors, every case through its main in one process (one TensorFlow
    import): {"missing": --runs of a missing folder, "budget": one run per BUDGET_FLAGS flag
    (with --smoke, which overrides the budget: a bad flag is an error all the same), "nb201":
    {arguments: result} of NB201_CASES}, and the tmp folder they used."""
    tmp_path = tmp_path_factory.mktemp("errors")
    missing = [f"--runs={tmp_path / 'no_such_search'}", f"--out_dir={tmp_path / 'out'}"]
    budget = [["--smoke", flag, f"--out_dir={tmp_path}"] for flag in BUDGET_FLAGS]
    nb201 = [["--smoke", *args.format(tmp=tmp_path).split(), f"--out_dir={tmp_path}"]
             for args in NB201_CASES]
    results = run_mains(SCRIPT, missing, *budget, *nb201)
    return {"missing": results[0], "budget": results[1:1 + len(budget)],
            "nb201": dict(zip(NB201_CASES, results[1 + len(budget):]))}, tmp_path


@pytest.mark.slow
def test_a_missing_runs_dir_and_bad_budget_flags_are_one_line_errors(tmp_path,
                                                                     command_line_errors):
    missing = str(tmp_path / "no_such_search")
    with pytest.raises(ValueError, match="no such directory"):
        table3_controller.run(str(tmp_path / "out"), runs=[missing], log=lambda line: None)
    results, folder = command_line_errors
    assert_one_line_error(results["missing"], f"table3_controller.py: --runs: "
                                              f"{folder / 'no_such_search'}: no such directory")
    for flag, result in zip(BUDGET_FLAGS, results["budget"]):
        assert result.returncode == 1 and "Traceback" not in result.stderr
        name = flag.split("=")[0]
        assert result.stderr.strip().splitlines()[-1].startswith(
            f"table3_controller.py: {name}: ")
    assert not os.path.exists(folder / "table3_controller.json")


# ---------------------------------------------------------------------------------------------
# Table 3 on NAS-Bench-201 (--benchmark=nb201)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nb201_smoke(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("table3_nb201")
    lines = []
    table3_nb201.run(str(out_dir), table3_nb201.Setup(**table3_nb201.SMOKE),
                     table3.Budget(**table3_controller.SMOKE_BUDGET), smoke=True,
                     log=lines.append)
    with open(out_dir / "table3_nb201.json") as f:
        return out_dir, json.load(f), "\n".join(lines)


@pytest.mark.slow
def test_nb201_smoke_writes_a_table_per_held_out_size(nb201_smoke):
    out_dir, data, text = nb201_smoke
    assert list(data["tables"]) == ["30", "60"] and data["setup"]["cells"] == 15_625
    for size in ("30", "60"):
        assert f"held-out sets of {size} cells\n" + data["tables"][size] in text
        rows = data["ours"][size]["40"]
        assert list(rows) == ["Single-RNN", "Double-RNN", "SCC", "SCC - Single-RNN",
                              "SCC - Double-RNN"]
        for label, metrics in rows.items():
            low = -2.0 if " - " in label else -1.0  # differences of values in [-1, 1]
            for name, value in metrics.items():
                assert len(value["values"]) == 2, (label, name)
                assert all(low <= v <= 2.0 for v in value["values"]), (label, name)
        assert list(data["references"][size]) == ["Random order", "Parameter count"]
    assert (out_dir / "table3_nb201.png").stat().st_size > 10_000


@pytest.mark.slow
def test_nb201_gaps_are_paired_by_seed_and_parameter_count_ranks_well(nb201_smoke):
    _, data, _ = nb201_smoke
    rows = data["ours"]["60"]["40"]
    for metric in table3.METRICS:
        scc_, single = rows["SCC"][metric]["values"], rows["Single-RNN"][metric]["values"]
        assert rows["SCC - Single-RNN"][metric]["values"] == pytest.approx(
            [a - b for a, b in zip(scc_, single)])
    refs = data["references"]["60"]
    # More parameters, more accurate: about 0.57 on NAS-Bench-201; a random order about 0.
    assert refs["Parameter count"]["kendall_tau"]["mean"] > 0.4
    assert abs(refs["Random order"]["kendall_tau"]["mean"]) < 0.1


def test_nb201_samples_are_nested_and_never_meet_the_held_out_cells():
    setup = table3_nb201.Setup(train_sizes=(3, 5), holdout_sizes=(2, 4))
    train, held = table3_nb201.sample(20, setup, seed=0)
    assert list(held[2]) == list(held[4][:2]) and list(train[3]) == list(train[5][:3])
    assert not set(train[5]) & set(held[4]) and len(set(train[5])) == 5
    again = table3_nb201.sample(20, setup, seed=0)
    assert list(again[0][5]) == list(train[5])


@pytest.mark.parametrize("setup, error", [
    (dict(train_sizes=(100, 100)), "--train_sizes: must be distinct sizes of at least 1"),
    (dict(holdout_sizes=(1, 10)), "--holdout_sizes: must be distinct sizes of at least 2"),
    (dict(train_sizes=(15_000,)), "15000 + 1000 cells needed"),
])
def test_nb201_setup_errors_name_the_flag(setup, error):
    with pytest.raises(ValueError, match=error.replace("+", "\\+")):
        table3_nb201.Setup(**setup).require(15_625)


def test_size_flags_must_be_integers():
    assert table3_controller.sizes("--train_sizes", ["100", "300"]) == (100, 300)
    with pytest.raises(ValueError, match="--train_sizes: must be integers, got 100,many"):
        table3_controller.sizes("--train_sizes", ["100", "many"])


@pytest.mark.slow
def test_nb201_command_line_errors_are_one_line(command_line_errors):
    results, folder = command_line_errors
    for args, expected in NB201_CASES.items():
        assert_one_line_error(results["nb201"][args], expected.format(tmp=folder))
