"""pareto.py: the front and its hypervolume for literal point sets worked by hand (ties and
duplicates included), the points of a search's records, pareto.json and pareto.png."""
import json

import numpy as np
import pytest

import cells
import pareto
import records
import search_config
from conftest import run_script

ARCH = cells.one_cell("conv3x3", "maxpool3x3")


def test_the_front_of_a_literal_set_worked_by_hand():
    # (accuracy, memory); maximize the first, minimize the second.
    points = [(0.50, 100),  # a: on (only e, f and i are as small; none is more accurate)
              (0.60, 200),  # b: off, d is as accurate and smaller
              (0.55, 250),  # c: off, d is more accurate and smaller
              (0.60, 150),  # d: on
              (0.40, 100),  # e: off, a is as small and more accurate
              (0.70, 400),  # f: on, with its duplicate g
              (0.70, 400),  # g: on, equal to f: neither is strictly better
              (0.65, 500),  # h: off, f is more accurate and smaller
              (0.50, 100)]  # i: on, a duplicate of a
    assert pareto.front(points).tolist() == [True, False, False, True, False, True, True, False,
                                             True]


def test_ties_on_one_axis_keep_only_the_better_on_the_other():
    assert pareto.front([(0.5, 100), (0.5, 90), (0.5, 90)]).tolist() == [False, True, True]
    assert pareto.front([(0.5, 100), (0.6, 100)]).tolist() == [False, True]
    # A trade-off: neither beats the other in both.
    assert pareto.front([(0.5, 100), (0.6, 200)]).tolist() == [True, True]


def test_edge_cases_empty_one_point_all_equal():
    assert pareto.front([]).tolist() == []
    assert pareto.front([(0.3, 7)]).tolist() == [True]
    assert pareto.front([(0.3, 7)] * 3).tolist() == [True] * 3


def test_the_front_agrees_with_the_definition_on_random_sets():
    rng = np.random.default_rng(0)
    for _ in range(20):  # few distinct values: many ties and duplicates
        points = [(float(a), int(m)) for a, m in zip(rng.integers(0, 5, 30) / 10,
                                                      rng.integers(1, 6, 30))]
        expected = [not any(a2 >= a and m2 <= m and (a2 > a or m2 < m) for a2, m2 in points)
                    for a, m in points]
        assert pareto.front(points).tolist() == expected


def candidate(round_, key, accuracy, param_bytes, activation_bytes, status="ok",
              reused_from=None):
    return records.Candidate(round=round_, key=key, arch=ARCH, val_accuracy=accuracy,
                             param_bytes=param_bytes, activation_bytes=activation_bytes,
                             y=None if status != "ok" else 0.0, seconds=1.0, status=status,
                             reused_from=reused_from)


CANDIDATES = [candidate(1, "b", 0.6, 100, 100),  # total 200
              candidate(0, "a", 0.5, 50, 100),  # total 150
              candidate(0, "c", 0.4, 100, 100),  # total 200: off (b)
              candidate(1, "d", None, 10, 10, status="nan"),  # failed: no point
              candidate(1, "a", 0.5, 50, 100, reused_from=0)]  # not trained again: no point
FINAL = records.Final(key="b", test_accuracy=0.7, param_bytes=100, activation_bytes=100,
                      epochs=5, seconds=9.0, status="ok")


def test_a_searchs_points_are_its_trained_candidates_and_its_tested_final_network():
    found = pareto.points(CANDIDATES, FINAL)
    assert [(p.round, p.key, p.accuracy, p.accuracy_kind, p.total_bytes, p.on_front)
            for p in found] == [(0, "a", 0.5, "validation", 150, True),
                                (0, "c", 0.4, "validation", 200, False),
                                (1, "b", 0.6, "validation", 200, False),  # the test point beats it
                                (None, "b", 0.7, "test", 200, True)]
    without = pareto.points(CANDIDATES)
    assert [p.on_front for p in without] == [True, False, True]
    failed = records.Final(**{**FINAL.to_json(), "test_accuracy": None, "status": "nan"})
    assert pareto.points(CANDIDATES, failed) == without


def test_write_puts_the_points_and_the_figure_into_the_out_dir(tmp_path):
    out = records.OutDir(str(tmp_path))
    pareto.write(out, CANDIDATES, FINAL, search_config.SearchConfig(lambda_=0.5))
    data = json.load(open(tmp_path / "pareto.json"))
    assert "4 bytes per value, paper schedule" in data["memory"]
    assert set(data["accuracy_kind"]) == {"validation", "test"}
    assert data["points"][0] == {"round": 0, "key": "a", "accuracy": 0.5,
                                 "accuracy_kind": "validation", "param_bytes": 50,
                                 "activation_bytes": 100, "on_front": True, "total_bytes": 150}
    assert [p["on_front"] for p in data["points"]] == [True, False, False, True]
    with open(tmp_path / "pareto.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))


def test_importing_pareto_loads_neither_matplotlib_nor_tensorflow():
    result = run_script("-c", "import sys, pareto; sys.exit('matplotlib' in sys.modules or "
                              "'tensorflow' in sys.modules)")
    assert result.returncode == 0, result.stderr


def test_hypervolume_of_two_points_worked_by_hand():
    # (0.8, 1) dominates [1, 4] x [0.5, 0.8] = 0.9; (0.9, 2) dominates [2, 4] x [0.5, 0.9] = 0.8;
    # they share [2, 4] x [0.5, 0.8] = 0.6: 0.9 + 0.8 - 0.6 = 1.1.
    assert pareto.hypervolume([(0.9, 2), (0.8, 1)], (0.5, 4)) == pytest.approx(1.1)
    # A dominated point, one at the reference's accuracy and one at its memory add nothing.
    assert pareto.hypervolume([(0.9, 2), (0.8, 1), (0.7, 3), (0.5, 0), (1.0, 4)],
                              (0.5, 4)) == pytest.approx(1.1)
    assert pareto.hypervolume([], (0.5, 4)) == 0.0

