"""search.py: Eq. 4, a whole tiny search, resume after a kill, failures and bad input."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import cells
import search

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_memory_efficiency_by_hand():
    pre = search.Stats(accuracy=0.8, r=1000, p=2000)
    # Same accuracy, half the intermediate memory, the same parameters: y = (1 - l) * 0.5.
    assert search.memory_efficiency(search.Stats(0.8, 500, 2000), pre, 0.5) == pytest.approx(0.25)
    # More memory is worse (the sign the paper prints would say better).
    assert search.memory_efficiency(search.Stats(0.8, 2000, 2000), pre, 0.5) < 0
    # lambda = 1: accuracy only; 0.88 is 10% better than 0.8.
    assert search.memory_efficiency(search.Stats(0.88, 9999, 9999), pre, 1.0) == pytest.approx(0.1)
    # Not trained yet: the memory terms only.
    assert search.memory_efficiency(search.Stats(None, 500, 1000), pre, 0.2) == pytest.approx(
        0.8 * (0.5 + 0.5))


def test_search_config_names_the_bad_flag():
    with pytest.raises(ValueError, match=r"--lambda_ must be in \[0, 1\], got 1.5"):
        search.SearchConfig(lambda_=1.5).check()
    with pytest.raises(ValueError, match="--k must be at least 1, got 0"):
        search.SearchConfig(k=0).check()
    with pytest.raises(ValueError, match="--controller_target must be one of accuracy, y"):
        search.SearchConfig(controller_target="loss").check()


def test_ranking_adds_exact_memory_terms_to_the_predicted_accuracy():
    pre = search.Stats(accuracy=0.5, r=1000, p=1000)
    memories = [(1000, 1000), (500, 1000), (1000, 4000)]  # (r, p) per candidate
    # Before the controller has data: (1 - lambda) * memory terms; 4x the parameters is -3.
    assert search.rank_scores(memories, pre, 0.5) == pytest.approx([0.0, 0.25, -1.5])
    # Predicted accuracy (default target): Eq. 4 of it; the big one's +50% accuracy is
    # worth 0.25, not enough to pay for its parameters.
    assert search.rank_scores(memories, pre, 0.5, [0.5, 0.5, 0.75]) == pytest.approx(
        [0.0, 0.25, -1.25])
    # The paper's target: the controller's outputs are the scores.
    assert search.rank_scores(memories, pre, 0.5, [3.0, 2.0, 1.0], target="y") == [3.0, 2.0, 1.0]


def test_a_line_cut_by_a_crash_is_dropped_and_earlier_lines_kept(tmp_path):
    path = tmp_path / "candidates.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b": [1, 2')
    warnings = []
    search.drop_cut_line(str(path), warnings.append)
    assert search.read_jsonl(str(path)) == [{"a": 1}, {"a": 2}]
    assert len(warnings) == 1 and "cut short" in warnings[0]
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        search.read_jsonl(str(path))


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    """A learnable toy problem: 4 classes, each a different mean colour, 16x16 images."""
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.integers(0, 4, n)
        x = rng.normal(60 + 40 * y[:, None, None, None], 20, (n, 16, 16, 3))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    x_train, y_train = split(48)
    x_test, y_test = split(16)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


def search_args(npz, out_dir, *extra):
    return [sys.executable, "search.py", f"--dataset=npz:{npz}", "--rounds=2", "--k=2",
            "--epochs=1", "--filters=4", "--batch_size=16", "--val_fraction=0.25",
            "--controller_epochs=3", "--list_size=8", f"--out_dir={out_dir}", *extra]


def run_search(npz, out_dir, *extra):
    result = subprocess.run(search_args(npz, out_dir, *extra), cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def finished(tiny_npz, tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp("search") / "run")
    return out_dir, run_search(tiny_npz, out_dir)


def test_a_whole_search_writes_every_output(finished):
    out_dir, result = finished
    candidates = search.read_jsonl(os.path.join(out_dir, "candidates.jsonl"))
    assert [c["round"] for c in candidates] == [0, 0, 1, 1]
    for c in candidates:
        assert c["status"] == "ok"
        assert 0 <= c["val_accuracy"] <= 1
        assert c["param_bytes"] > 0 and c["activation_bytes"] > 0
        assert isinstance(c["y"], float) and c["seconds"] >= 0
        assert cells.from_json(c["arch"]) == cells.canonical(cells.from_json(c["arch"]))
    rounds = search.read_jsonl(os.path.join(out_dir, "rounds.jsonl"))
    assert [r["round"] for r in rounds] == [0, 1]
    assert rounds[0]["base_arch"] is None
    assert rounds[1]["base_arch"] == rounds[0]["best_arch"]
    best = cells.load(os.path.join(out_dir, "best_arch.json"))
    last = rounds[-1]
    assert best == cells.from_json(last["best_arch"])
    assert os.path.exists(os.path.join(out_dir, "scc.keras"))
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(out_dir, "base_round*")))\
        == ["base_round01.json", "base_round02.json"]
    summary = json.load(open(os.path.join(out_dir, "summary.json")))
    assert summary["trained"] == 4
    assert "y against the round-0 best" in result.stdout
    assert result.stdout.count("val acc") >= 4  # a progress line per candidate


def test_tensorboard_has_a_scalar_per_round(finished):
    import tensorflow as tf
    out_dir, _ = finished
    tags = {}
    for path in glob.glob(os.path.join(out_dir, "tensorboard", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    assert set(tags) == {"best/y", "best/val_accuracy", "best/param_bytes",
                         "best/activation_bytes"}
    assert all(sorted(steps) == [0, 1] for steps in tags.values())


def test_the_controller_checkpoint_loads_and_ranks(finished):
    import scc
    out_dir, _ = finished
    controller = scc.Controller.load(os.path.join(out_dir, "scc.keras"))
    scores = controller.predict(list(cells.ROUND0[:5]))
    assert scores.shape == (5,) and np.all(np.isfinite(scores))


def test_a_killed_search_resumes_without_retraining(tiny_npz, finished, tmp_path):
    reference_dir, _ = finished
    out_dir = str(tmp_path / "killed")
    log = os.path.join(out_dir, "candidates.jsonl")
    process = subprocess.Popen(search_args(tiny_npz, out_dir), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (os.path.exists(log) and open(log).read().count("\n")):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = search.read_jsonl(log)
    assert len(first) == 1, "killed after its first trained candidate"
    result = run_search(tiny_npz, out_dir)
    assert "(already trained)" in result.stdout
    resumed = search.read_jsonl(log)
    assert resumed[0] == first[0]
    keys = [(c["round"], c["key"]) for c in resumed]
    assert len(keys) == len(set(keys))  # nothing trained twice
    reference = search.read_jsonl(os.path.join(reference_dir, "candidates.jsonl"))
    assert set(keys) == {(c["round"], c["key"]) for c in reference}
    # Seeded per candidate: the resumed search measured what the uninterrupted one did.
    assert sorted((c["key"], c["val_accuracy"]) for c in resumed) == \
        sorted((c["key"], c["val_accuracy"]) for c in reference)


def test_a_resume_may_change_how_training_runs_but_not_what_it_computes(finished, tmp_path):
    out_dir, _ = finished
    with open(os.path.join(out_dir, "config.json")) as f:
        started = json.load(f)
    (tmp_path / "config.json").write_text(json.dumps(started))
    # More rounds, eager steps and another verbosity measure the same candidates.
    search._check_config(str(tmp_path), {**started, "rounds": 5, "train": {
        **started["train"], "run_eagerly": True, "verbose": 2}})
    with pytest.raises(ValueError, match=r"holds a search with other settings \(train: .*"
                                         r"'epochs': 2.* now\); use another --out_dir"):
        search._check_config(str(tmp_path), {**started, "train": {**started["train"],
                                                                   "epochs": 2}})


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(tiny_npz, tmp_path,
                                                                monkeypatch):
    import train
    data = train.load_data(f"npz:{tiny_npz}", val_fraction=0.25, seed=0)
    real_train = train.train
    calls = []

    def flaky(arch, data, config, *args, **kwargs):
        calls.append(arch)
        if len(calls) == 1:
            return train.TrainResult(None, None, 0.0, "nan", 1)
        return real_train(arch, data, config, *args, **kwargs)

    monkeypatch.setattr(train, "train", flaky)
    config = search.SearchConfig(lambda_=0.5, rounds=1, k=3, controller_epochs=2, list_size=8)
    train_config = train.TrainConfig(epochs=1, batch_size=16, filters=4, verbose=0)
    summary = search.run(str(tmp_path / "out"), data, config, train_config, log=lambda line: None)
    records = search.read_jsonl(str(tmp_path / "out" / "candidates.jsonl"))
    assert [r["status"] for r in records] == ["nan", "ok", "ok"]
    assert records[0]["y"] is None
    assert summary.best_arch in [cells.from_json(r["arch"]) for r in records[1:]]


@pytest.mark.parametrize("extra, message", [
    (["--lambda_=1.5"], "search.py: --lambda_ must be in [0, 1], got 1.5"),
    (["--k=0"], "search.py: --k must be at least 1, got 0"),
    (["--base=nowhere.json"], "search.py: nowhere.json: no such architecture file"),
    (["--dataset=mnist"], "search.py: unknown dataset 'mnist': expected cifar10, imagenet2012"),
    (["--dataset=npz:missing.npz"], "search.py: npz:missing.npz: no such file"),
])
def test_bad_input_is_one_line_naming_the_problem(extra, message, tmp_path):
    args = [sys.executable, "search.py", f"--out_dir={tmp_path / 'out'}", *extra]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("search.py:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_base_that_does_not_validate_is_refused(tmp_path):
    data = cells.to_json(cells.FIGURE_1B)
    data["blocks"][0]["cells"][0]["ops"][0] = "conv9x9"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    result = subprocess.run([sys.executable, "search.py", f"--base={path}",
                             f"--out_dir={tmp_path / 'out'}"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    assert f"search.py: {path}: block 1, cell 1: unknown op" in result.stderr
