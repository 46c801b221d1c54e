"""bench/nb201_search.py: the whole-space baselines query distinct cells of the table, seeded;
the metrics of a literal query list; a smoke run of every method that resumes."""
import importlib.util
import json
import os

import numpy as np
import pytest

import nb201
import search_config
import spaces
from conftest import ROOT, run_mains
from reproduce import nb201_memory

_spec = importlib.util.spec_from_file_location(
    "nb201_search", os.path.join(ROOT, "bench", "nb201_search.py"))
nb201_search = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nb201_search)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The first 300 cells of the shipped table."""
    lines = open(nb201.DEFAULT_CSV).read().splitlines()[:301]
    path = tmp_path_factory.mktemp("nb201") / "part.csv"
    path.write_text("\n".join(lines) + "\n")
    return nb201_search.Table(str(path), nb201.ACCURACY_COLUMN, "paper")


@pytest.mark.parametrize("method", nb201_search.BASELINES)
def test_a_baseline_queries_distinct_cells_of_the_table_with_its_seed(table, method):
    queried = nb201_search.BASELINE_FUNCTIONS[method](table, 40, np.random.default_rng(3), 0.5)
    assert len(queried) == len(set(queried)) == 40
    assert all(0 <= i < len(table.cells) for i in queried)
    again = nb201_search.BASELINE_FUNCTIONS[method](table, 40, np.random.default_rng(3), 0.5)
    assert again == queried


def test_metrics_of_the_whole_table_are_a_full_front_and_no_regret(table):
    everything = list(range(len(table.cells)))
    found = table.metrics(everything, len(everything))
    assert found["hv_ratio"] == pytest.approx(1.0)
    assert all(found[f"regret_{int(b * 100)}"] == 0 for b in nb201_search.BUDGETS)
    nothing = table.metrics([], 0)
    assert nothing["hv_ratio"] == 0.0
    # The most accurate cell within half the largest p + r, queried alone: no regret at 50 %.
    half = [i for i in everything if table.total[i] <= 0.5 * table.total.max()]
    best = max(half, key=lambda i: table.accuracy[i])
    assert table.metrics([best], 1)["regret_50"] == 0


@pytest.mark.slow
def test_a_smoke_run_reports_every_method_and_resumes(tmp_path):
    args = ["--smoke", f"--out_dir={tmp_path}"]
    first, again = run_mains("bench/nb201_search.py", args, args)  # run, then resumed
    assert first.returncode == 0, first.stderr
    results = json.loads((tmp_path / "nb201_search.json").read_text())
    assert set(results["results"]) == set(nb201_search.SEARCH_ARMS + nb201_search.BASELINES)
    for by_n in results["results"].values():
        for n in ("10", "20"):
            assert 0 <= by_n[n]["hv_ratio"][0] <= 1 and by_n[n]["queries_used"] <= int(n)
    assert again.returncode == 0, again.stderr
    assert "6 (method, seed) read back" in again.stdout  # nothing queried again
    lines = (tmp_path / "queries.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["method"] for line in lines) == sorted(
        nb201_search.SEARCH_ARMS + nb201_search.BASELINES)


@pytest.mark.parametrize("schedule,bytes_per_value", [("paper", 4), ("tflm", 1)])
def test_the_table_reads_the_memory_the_code_measures_from_the_shipped_csv(schedule,
                                                                          bytes_per_value):
    cells, _ = nb201.read_csv(nb201.DEFAULT_CSV)
    cells = cells[:5]
    config = search_config.SearchConfig(space="nb201", final_epochs=0, schedule=schedule,
                                        bytes_per_value=bytes_per_value)
    data = nb201.Benchmark(nb201.DEFAULT_CSV)
    measured = [spaces.NB201.memory(cell, None, config, data) for cell in cells]
    assert nb201_search.table_memory(cells, config, data) == [
        (m.param_bytes, m.activation_bytes) for m in measured]
    assert set(nb201_memory.read(cells, schedule, bytes_per_value)) == set(cells)  # it read


def test_a_shipped_table_that_differs_from_the_code_is_refused(monkeypatch):
    cells, _ = nb201.read_csv(nb201.DEFAULT_CSV)
    config = search_config.SearchConfig(space="nb201", final_epochs=0)
    monkeypatch.setattr(nb201_memory, "read", lambda cells, *args: {
        cell: (1, 2) for cell in cells})  # what no network measures
    with pytest.raises(ValueError, match="the code measures .*; rerun reproduce/nb201_memory.py"):
        nb201_search.table_memory(cells[:3], config, nb201.Benchmark(nb201.DEFAULT_CSV))
