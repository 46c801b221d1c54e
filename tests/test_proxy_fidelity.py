"""bench/proxy_fidelity.py: the panel is fixed and well formed, fidelity is computed as worked
out by hand, and a smoke run goes through every kind of proxy and resumes."""
import importlib.util
import json
import os
import shutil

import pytest

import arch_json
import cells
import grow_trim
from conftest import ROOT, run_script

_spec = importlib.util.spec_from_file_location(
    "proxy_fidelity", os.path.join(ROOT, "bench", "proxy_fidelity.py"))
proxy_fidelity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(proxy_fidelity)


def test_the_panel_is_seeded_distinct_and_every_parent_is_in_it():
    networks = proxy_fidelity.panel(seed=0, filters=16)
    assert len(networks) == 17 and networks[0].arch == cells.FIGURE_1B
    assert len({arch_json.key(n.arch) for n in networks}) == 17
    by_name = {n.name: n for n in networks}
    children = [n for n in networks if n.parent]
    assert len(children) == 9
    for child in children:
        generation = grow_trim.generate(by_name[child.parent].arch)
        assert child.arch in (generation.trim if "_trim" in child.name else generation.grow)
    assert [n.arch for n in proxy_fidelity.panel(0, 16)] == [n.arch for n in networks]
    assert [n.arch for n in proxy_fidelity.panel(1, 16)] != [n.arch for n in networks]


def test_fidelity_by_hand():
    def line(val, test, seconds, status="ok"):
        return {"val_accuracy": val, "test_accuracy": test, "seconds": seconds,
                "status": status}

    reference = {n: line(None, t, 4.0) for n, t in zip("abcde", (0.5, 0.4, 0.3, 0.2, 0.1))}
    # e failed in the proxy: left out. Of the 6 pairs of a-d only (c, d) is in the other
    # order: tau = (5 - 1) / 6; top 3 {a, b, d} against {a, b, c}: 2 of 3; cost 4 s / 16 s.
    proxy = {"a": line(0.45, None, 1.0), "b": line(0.35, None, 1.0),
             "c": line(0.10, None, 1.0), "d": line(0.30, None, 1.0),
             "e": line(None, None, 1.0, "nan")}
    found = proxy_fidelity.fidelity(reference, proxy)
    assert found["networks"] == 4
    assert found["tau"] == pytest.approx(4 / 6)
    assert found["top3"] == pytest.approx(2 / 3)
    assert found["cost"] == pytest.approx(0.25)


@pytest.mark.slow
def test_a_smoke_run_goes_through_every_proxy_and_resumes(tiny_npz, tmp_path):
    out_dir = tmp_path / "bench"
    args = ["bench/proxy_fidelity.py", f"--dataset=npz:{tiny_npz}", "--smoke",
            f"--out_dir={out_dir}"]
    first = run_script(*args)
    assert first.returncode == 0, first.stderr
    results = json.loads((out_dir / "proxy_fidelity.json").read_text())
    trainings = results["trainings"]
    assert set(trainings) == {p.name for p in proxy_fidelity.SMOKE_PROXIES}
    assert len(trainings["reference"]) == 2 and trainings["reference"]["r0_0"]["epochs"] == 2
    assert set(trainings["inherit short e1"]) == {"r0_0_grow0"}  # the one child
    rows = {(r["proxy"], r["on"]): r for r in results["fidelity"]}
    assert rows[("short e1", "panel")]["networks"] == 2
    assert rows[("short e1", "children")]["networks"] == 1
    assert "Kendall tau" in first.stdout
    # A rerun trains nothing twice. In a checkout with the lines but not the models (models/
    # is not kept), the inherited proxies left to train get their parent's model by training
    # it again.
    lines = (out_dir / "trainings.jsonl").read_text()
    shutil.rmtree(out_dir / "models")
    kept = [line for line in lines.splitlines() if '"proxy": "inherit' not in line]
    (out_dir / "trainings.jsonl").write_text("\n".join(kept) + "\n")
    resumed = run_script(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "r0_0         training again for its model" in resumed.stdout
    assert resumed.stdout.count(" training again") == 1  # once for both inherited proxies
    assert resumed.stdout.count(" s  ok") == 2  # the two inherited lines, nothing else
    assert len((out_dir / "trainings.jsonl").read_text().splitlines()) == len(lines.splitlines())
    with pytest.raises(ValueError, match=f"{out_dir} holds a run with other settings \\(seed\\); "
                                         "use another --out_dir"):
        proxy_fidelity.Trainings(str(out_dir), {**results["settings"], "seed": 1})
