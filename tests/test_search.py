"""search.py: the round's steps through the evaluator seam (no training), a whole tiny search
of a user's folder of images with training and export for a microcontroller, resume after a
kill, and bad input."""
import contextlib
import csv
import dataclasses
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import arch_json
import cells
import evaluation
import guard
import lifetime
import meters
import nb201
import parallel
import readers
import recipes
import records
import rounds
import scc
import search
import search_config
import train
from conftest import (ROOT, assert_one_line_error, c_array, run_mains, run_search, search_args,
                      write_image)

FILTERS = 4


class Task:
    """What search.run needs of a data set when the evaluator trains nothing."""
    name = "fake"
    input_shape = (32, 32, 3)
    num_classes = 10


def params_accuracy(job):
    """An evaluator: accuracy grows with the parameter count, in the order given."""
    for c in job.candidates:
        params = lifetime.arch_memory(c.arch, FILTERS).params
        yield evaluation.Outcome(c.key, 1 - 1 / (1 + params / 1e4), "ok", 0.0)


def reversed_order(job):
    """The same outcomes, yielded last candidate first (as a parallel evaluator might)."""
    yield from reversed(list(params_accuracy(job)))


def fake_search(out_dir, evaluator, data=None, **settings):
    config = search_config.SearchConfig(**{"lambda_": 0.5, "rounds": 2, "k": 3,
                                           "strategy": "memory", "final_epochs": 0, **settings})
    return search.run(str(out_dir), data or Task(), config,
                      recipes.TrainConfig(filters=FILTERS, verbose=0), evaluator=evaluator,
                      log=lambda line: None, front_png=False)


class Named(Task):
    """A data set whose classes have names (a folder's, tfds')."""
    class_names = ("cat", "dog")
    num_classes = 2


def test_a_search_keeps_what_the_network_outputs_mean(tmp_path):
    fake_search(tmp_path / "named", params_accuracy, Named(), rounds=1)
    assert json.loads((tmp_path / "named" / "class_names.json").read_text()) == ["cat", "dog"]
    fake_search(tmp_path / "npz", params_accuracy, rounds=1)  # none named: no file
    assert not (tmp_path / "npz" / "class_names.json").exists()


def test_search_config_names_the_bad_flag():
    for config, message in [
            (dict(lambda_=1.5), r"--lambda_ must be in \[0, 1\], got 1.5"),
            (dict(k=0), "--k must be at least 1, got 0"),
            (dict(seed=-5), "--seed must be at least 0, got -5"),
            (dict(final_epochs=-1), "--final_epochs must be at least 0, got -1"),
            (dict(round0_k=0), "--round0_k must be at least 1, got 0"),
            (dict(max_param_bytes=0), "--max_param_bytes must be at least 1, got 0"),
            (dict(max_activation_bytes=-1),
             "--max_activation_bytes must be at least 1, got -1"),
            (dict(strategy="best"), "--strategy must be one of memnas, memory, random, got "
                                    "'best'"),
            (dict(controller_target="loss"),
             "--controller_target must be one of accuracy, y"),
            (dict(space="nb101"), "--space must be one of memnas, nb201, got 'nb101'"),
            (dict(space="nb201"), "--space=nb201: its networks are looked up, not trained: no "
                                  "--inherit, and --final_epochs must be 0"),
            (dict(space="nb201", final_epochs=0, inherit=True), "--space=nb201: its networks")]:
        with pytest.raises(ValueError, match=message):
            search_config.SearchConfig(**config)


def test_byte_counts_take_decimal_and_binary_suffixes():
    assert [search_config.parse_bytes(text) for text in
            ("12345", "10k", "1.5M", "64Ki", "2Mi", " 3 k ", "0.5Ki", None)] == \
        [12345, 10_000, 1_500_000, 65_536, 2_097_152, 3000, 512, None]
    for bad in ("", "10x", "1.5", "0.0001k", "-5", "10K", "10m", "1e3", "k"):
        with pytest.raises(ValueError, match=f"{bad!r} is not a whole number of bytes: an "
                                             f"integer, or with a suffix k"):
            search_config.parse_bytes(bad)


def measured(round_index, base, config):
    """The candidates a search measures in a round, as search.run does."""
    return rounds.measure(rounds.generate(round_index, base).candidates, FILTERS, config, Task())


def test_budgets_exclude_every_candidate_over_them_from_ranking_and_training(tmp_path):
    # strategy random would draw any candidate, and round0_k=28 trains all of round 0 that fits.
    config = dict(strategy="random", round0_k=28, max_param_bytes=12_000,
                  max_activation_bytes=32_768)
    fake_search(tmp_path, params_accuracy, **config)
    run = readers.load_run(str(tmp_path))
    budget = search_config.SearchConfig(**config)
    assert run.config.search.max_param_bytes == 12_000  # recorded in config.json
    assert run.candidates and all(c.param_bytes <= 12_000 and c.activation_bytes <= 32_768
                                  for c in run.candidates)
    bases = [None, run.rounds[0].best_arch]
    for round_, base in zip((0, 1), bases):
        over = {c.key for c in measured(round_, base, budget) if not budget.fits(c.memory)}
        assert over and run.rounds[round_].excluded == len(over)
        assert not over & set(records.OutDir(str(tmp_path)).selection(round_).selected)
    # Round 0: 14 of the 28 one-cell networks have p <= 12,000 at width 4; all are trained.
    assert run.rounds[0].excluded == 14 and run.rounds[0].trained == 14
    rounds = [json.loads(line) for line in open(tmp_path / "rounds.jsonl")]
    assert [r["excluded"] for r in rounds] == [r.excluded for r in run.rounds]


def test_a_round_with_nothing_within_the_budget_ends_the_search(tmp_path, monkeypatch):
    # Only the three pooling-only networks of round 0 fit p <= 3,496, and round 1 is made of
    # grown networks only (its trims dropped here), all of them larger.
    generate = rounds.generate
    monkeypatch.setattr(rounds, "generate", lambda round_index, base, *args: (
        dataclasses.replace(generate(round_index, base, *args), trim=())
        if round_index else generate(round_index, base, *args)))
    lines = []
    config = search_config.SearchConfig(lambda_=0.5, rounds=3, k=3, strategy="memory",
                                        final_epochs=0, max_param_bytes=3_496)
    summary = search.run(str(tmp_path), Task(), config, recipes.TrainConfig(filters=FILTERS),
                         evaluator=params_accuracy, log=lines.append, front_png=False)
    assert "round 0: 28 candidates (grow 28, trim 0); 25 over the memory budget, not ranked" \
        in lines
    assert "round 1: no candidate fits the memory budget; the search ends with round 0's " \
           "network" in lines
    run = readers.load_run(str(tmp_path))
    assert summary.rounds == 1 and len(run.rounds) == 1 and run.summary.trained == 3
    assert run.rounds_note() == ("stopped after round 0 of 0..2: no candidate of round 1 fits "
                                 "the memory budget")


def test_a_search_that_cannot_start_within_its_budget_says_why_and_writes_nothing(tmp_path):
    # Width 4: the smallest one-cell networks have p 3,496 and r 32,768 bytes (float32).
    for settings, message in [
            (dict(max_param_bytes=3_000),
             "--max_param_bytes=3,000: no round-0 candidate fits; the smallest has param_bytes "
             "3,496 and activation_bytes 32,768 (4 bytes per value, paper schedule, filters 4)"),
            (dict(max_param_bytes=10_000, max_activation_bytes=30_000),
             "--max_param_bytes=10,000, --max_activation_bytes=30,000: no round-0 candidate "
             "fits; the smallest has param_bytes 3,496 and activation_bytes 32,768")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            fake_search(tmp_path / "out", params_accuracy, **settings)
    with pytest.raises(ValueError, match=r"--max_param_bytes=3,000: the starting network "
                                         r"\(--base\) does not fit; it has param_bytes "):
        search.run(str(tmp_path / "out"), Task(), search_config.SearchConfig(max_param_bytes=3_000),
                   recipes.TrainConfig(filters=FILTERS), base=cells.FIGURE_1B,
                   evaluator=params_accuracy, log=lambda line: None)
    assert not (tmp_path / "out").exists()  # another budget may be tried in the same out_dir


def hashed_accuracy(job):
    """An evaluator whose accuracy does not grow with memory: some networks beat others."""
    for c in job.candidates:
        accuracy = evaluation.candidate_seed(0, c.key) % 1000 / 1000
        yield evaluation.Outcome(c.key, accuracy, "ok", 0.0)


def test_the_search_writes_its_pareto_front_every_round(tmp_path):
    after_round0 = []

    def log(line):  # pareto.json as round 1 starts
        if line.startswith("round 1:") and not after_round0:
            after_round0.extend(json.load(open(tmp_path / "pareto.json"))["points"])

    config = search_config.SearchConfig(lambda_=0.5, rounds=2, k=4, strategy="random", round0_k=8,
                                        final_epochs=0)
    search.run(str(tmp_path), Task(), config, recipes.TrainConfig(filters=FILTERS),
               evaluator=hashed_accuracy, log=log)
    assert [p["round"] for p in after_round0] == [0] * 8
    run = readers.load_run(str(tmp_path))
    points = json.load(open(tmp_path / "pareto.json"))["points"]
    assert [(p["round"], p["key"]) for p in points] == sorted(
        (c.round, c.key) for c in run.candidates if c.reused_from is None)
    assert {p["accuracy_kind"] for p in points} == {"validation"}  # --final_epochs=0
    for p in points:  # on the front exactly when no other point is at least as good in both
        dominated = any(q["accuracy"] >= p["accuracy"] and q["total_bytes"] <= p["total_bytes"]
                        and (q["accuracy"] > p["accuracy"] or q["total_bytes"] < p["total_bytes"])
                        for q in points)
        assert p["on_front"] == (not dominated)
    assert any(p["on_front"] for p in points) and not all(p["on_front"] for p in points)
    assert (tmp_path / "pareto.png").stat().st_size > 10_000


def test_an_evaluator_may_yield_in_any_order_and_the_search_is_the_same(tmp_path):
    forward = fake_search(tmp_path / "forward", params_accuracy)
    backward = fake_search(tmp_path / "backward", reversed_order)
    assert forward == dataclasses.replace(backward, seconds=forward.seconds)
    by_key = {(c.round, c.key): c for c in readers.load_run(str(tmp_path / "forward")).candidates}
    back = readers.load_run(str(tmp_path / "backward")).candidates
    assert {(c.round, c.key) for c in back} == set(by_key)
    assert all(c.y == by_key[(c.round, c.key)].y for c in back)


@pytest.mark.slow
def test_the_controller_does_not_depend_on_the_order_candidates_finish_in(tmp_path):
    # As a pool of workers returns them: the same records in another order must train the same
    # controller, or round 1's selection would depend on the number of workers.
    archs = [cells.one_cell(a, b) for a, b in (("conv3x3", "maxpool3x3"),
                                               ("avgpool3x3", "maxpool3x3"),
                                               ("dwconv3x3", "identity"))]
    done = [records.Candidate(round=0, key=arch_json.key(arch), arch=cells.canonical(arch),
                              val_accuracy=accuracy, param_bytes=1000, activation_bytes=1000,
                              y=accuracy, seconds=1.0, status="ok")
            for arch, accuracy in zip(archs, (0.6, 0.2, 0.4))]
    config = search_config.SearchConfig(controller_epochs=1, list_size=8)
    predictions = []
    for name, order in (("forward", done), ("backward", done[::-1])):
        out = records.OutDir(str(tmp_path / name))
        rounds.train_controller(rounds.Search(out, rounds.State(order), config,
                                              log=lambda line: None), 0)
        predictions.append(scc.Controller.load(out.controller_path).predict(archs))
    np.testing.assert_array_equal(*predictions)


def test_round0_trains_the_k_smallest_networks_by_the_memory_terms(tmp_path):
    fake_search(tmp_path, params_accuracy, rounds=1)
    selection = records.OutDir(str(tmp_path)).selection(0)
    assert selection.ranked_by == "memory terms of Eq. 4"
    assert list(selection.scores) == sorted(selection.scores, reverse=True)
    # The smallest one-cell networks: pooling only (a 1x1 conv before each pool).
    smallest = [arch_json.from_json(json.loads(key)) for key in selection.selected]
    assert all(set(cell.ops) <= {"avgpool3x3", "maxpool3x3"}
               for arch in smallest for block in arch.blocks for cell in block)


def test_round0_k_trains_that_many_in_round_0_and_k_afterwards(tmp_path):
    fake_search(tmp_path, params_accuracy, k=2, round0_k=28)
    out = records.OutDir(str(tmp_path))
    assert [len(out.selection(r).selected) for r in (0, 1)] == [28, 2]
    # All 28 one-cell networks trained: the round-0 best is the most accurate by y, which
    # with this evaluator is not one of the pooling-only networks that k = 2 would train.
    best = out.rounds()[0].best_arch
    assert not all(set(cell.ops) <= {"avgpool3x3", "maxpool3x3"}
                   for block in best.blocks for cell in block)


def lines_but_seconds(path):
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in path.read_text().splitlines()]


def test_searches_sharing_round0_train_it_once_and_end_as_if_each_had_trained_it(tmp_path):
    trained = []

    def counting(job):
        trained.extend(c.key for c in job.candidates)
        yield from params_accuracy(job)

    def shared(out_dir, lambda_, train_config=recipes.TrainConfig(filters=FILTERS, verbose=0)):
        evaluator = evaluation.SharedRound0(str(tmp_path / "round0"), Task(), train_config,
                                            False, later=params_accuracy, round0=counting)
        return fake_search(out_dir, evaluator, lambda_=lambda_, round0_k=28)

    shared(tmp_path / "a", 0.2)
    assert len(trained) == 28
    shared(tmp_path / "b", 0.8)
    assert len(trained) == 28  # the second search read round 0 from the cache
    fake_search(tmp_path / "alone", params_accuracy, lambda_=0.8, round0_k=28)
    for name in ("candidates.jsonl", "rounds.jsonl"):
        assert lines_but_seconds(tmp_path / "b" / name) == lines_but_seconds(
            tmp_path / "alone" / name)
    # The cache is no search of its own: --runs on the folder finds the three searches only.
    assert sorted(os.path.basename(run.out_dir) for run in readers.find_runs([str(tmp_path)])
                  ) == ["a", "alone", "b"]
    other = recipes.TrainConfig(filters=FILTERS + 1, verbose=0)
    with pytest.raises(ValueError, match=r"holds a search with other settings \(train.filters"):
        shared(tmp_path / "c", 0.5, other)


def test_strategy_random_draws_k_with_the_seed_and_is_recorded(tmp_path):
    fake_search(tmp_path / "a", params_accuracy, strategy="random", seed=3)
    fake_search(tmp_path / "b", params_accuracy, strategy="random", seed=3)
    fake_search(tmp_path / "c", params_accuracy, strategy="random", seed=4)
    picked = {name: [records.OutDir(str(tmp_path / name)).selection(r).selected for r in (0, 1)]
              for name in "abc"}
    assert picked["a"] == picked["b"] != picked["c"]
    assert all(len(keys) == 3 for keys in picked["a"])
    config = json.load(open(tmp_path / "a" / "config.json"))
    assert config["search"]["strategy"] == "random" and config["search"]["seed"] == 3
    assert not os.path.exists(tmp_path / "a" / "scc.keras")  # no controller without memnas


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(tmp_path):
    def first_fails(job):
        for n, outcome in enumerate(params_accuracy(job)):
            yield evaluation.Outcome(outcome.key, None, "nan", 0.0) if n == 0 else outcome

    summary = fake_search(tmp_path, first_fails, rounds=1)
    candidates = readers.load_run(str(tmp_path)).candidates
    assert [c.status for c in candidates] == ["nan", "ok", "ok"]
    assert candidates[0].y is None
    assert summary.best_arch in [c.arch for c in candidates[1:]]


def test_an_evaluator_that_answers_for_another_candidate_stops_the_search(tmp_path):
    def wrong(job):
        yield evaluation.Outcome("not a candidate", 0.5, "ok", 0.0)

    with pytest.raises(RuntimeError, match="the evaluator returned not a candidate, which it "
                                           "was not asked for"):
        fake_search(tmp_path, wrong)


@contextlib.contextmanager
def ray_head(token_path, cpus=2):
    """A Ray head on 127.0.0.1 as the docs start one (`ray start --head`), authenticating with
    the token in `token_path`: yields its address, and stops it (only it: `ray stop` would stop
    every Ray instance of the machine) on leaving."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path))
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head",
                             "--block", f"--port={port}",
                             "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and head.poll() is None, "the head did not start"
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # --block: the head stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()


# The whole search on the command line: with --inherit and a final training, so that the tests
# below also cover the base model kept per round and final/.
INHERIT = ("--inherit", "--final_epochs=1")


FOLDER_CLASSES = ("blue", "green", "red")  # as image_dataset_from_directory orders them


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The --dataset of `finished` and of the searches compared with it: a user's folder of
    PNGs (a whole search of one, end to end, is the test of that input too), 40 of 16x16 per
    class folder, each class a colour plus noise."""
    root, rng = tmp_path_factory.mktemp("images"), np.random.default_rng(0)
    for name, colour in zip(FOLDER_CLASSES, ([40, 40, 200], [40, 200, 40], [200, 40, 40])):
        for i in range(40):
            pixels = np.clip(rng.normal(colour, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
            write_image(root / name / f"{i}.png", pixels)
    return f"folder:{root}"


@pytest.fixture(scope="module")
def finished(images, tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp("search") / "run")
    return out_dir, run_search(images, out_dir, *INHERIT)


class CountingTable(evaluation.TableEvaluator):
    """The benchmark's table, counting the queries."""
    queries = 0

    def __call__(self, job):
        for outcome in super().__call__(job):
            self.queries += 1
            yield outcome


def nb201_search(out_dir, evaluator, rounds, patience=0, strategy="memnas"):
    config = search_config.SearchConfig(lambda_=0.5, rounds=rounds, k=4, controller_epochs=2,
                                        list_size=8, final_epochs=0, space="nb201",
                                        patience=patience, strategy=strategy)
    return search.run(str(out_dir), nb201.Benchmark(nb201.DEFAULT_CSV), config,
                      recipes.TrainConfig(verbose=0), evaluator=evaluator,
                      log=lambda line: None, front_png=False)


@pytest.mark.slow
def test_a_nb201_search_looks_candidates_up_and_resumes_without_a_query_twice(tmp_path):
    table = CountingTable(nb201.DEFAULT_CSV)
    first = nb201_search(tmp_path, table, rounds=2)
    run = readers.load_run(str(tmp_path))
    assert run.config.search.space == "nb201" and first.rounds == 2
    looked_up = [c for c in run.candidates if c.reused_from is None]  # the rest: reused
    assert table.queries == len(looked_up) and first.trained == len(run.candidates)
    # Round 0 is every op on each path from input to output, picked by the memory terms.
    assert all(c.arch in nb201.round0() for c in run.candidates if c.round == 0)
    # p and r as the shipped memory table has them (reproduce/nb201_memory.py, same code).
    with open(os.path.join(ROOT, "reproduce", "data", "nb201_memory.csv")) as f:
        memory = {row["arch"]: row for row in csv.DictReader(f)}
    for c in run.candidates:
        assert c.val_accuracy == pytest.approx(table.accuracy[c.arch])
        row = memory[c.key]
        assert (c.param_bytes, c.activation_bytes) == (int(row["p_float32_bytes"]),
                                                       int(row["r_float32_paper_bytes"]))
        assert c.key == nb201.to_string(c.arch)
    assert json.loads(open(tmp_path / "best_arch.json").read()) == \
        nb201.to_string(run.rounds[-1].best_arch)
    # One more round asked for: only its candidates are looked up.
    more = CountingTable(nb201.DEFAULT_CSV)
    again = nb201_search(tmp_path, more, rounds=3)
    resumed = readers.load_run(str(tmp_path)).candidates
    assert resumed[:len(run.candidates)] == run.candidates
    assert more.queries == sum(c.round == 2 and c.reused_from is None for c in resumed)
    assert (again.rounds, more.queries > 0) in ((2, False), (3, True))  # or it had stopped
    keys = [(c.round, c.key) for c in resumed]
    assert len(keys) == len(set(keys))


class WorseAfterRound0(CountingTable):
    """The table in round 0; after it, every candidate at 1 % accuracy: none improves y."""

    def __call__(self, job):
        for outcome in super().__call__(job):
            yield outcome if job.round == 0 else dataclasses.replace(outcome, val_accuracy=0.01)


def test_with_patience_rounds_that_improve_nothing_keep_the_base_and_try_new_candidates(
        tmp_path):
    def searched(path, patience, evaluator=None):  # no controller: the rule is the same
        return nb201_search(tmp_path / path, evaluator or WorseAfterRound0(nb201.DEFAULT_CSV),
                            rounds=8, patience=patience, strategy="memory")

    assert searched("paper", 0).rounds == 2  # round 1 improved nothing: the paper stops
    summary = searched("p2", 2)
    run = readers.load_run(str(tmp_path / "p2"))
    assert summary.rounds == 4 and [r.improved for r in run.rounds] == [True] + [False] * 3
    assert all(r.base_arch == run.rounds[0].best_arch for r in run.rounds[1:])
    by_round = [{c.key for c in run.candidates if c.round == n} for n in range(4)]
    assert all(len(keys) == 4 for keys in by_round)
    assert not by_round[1] & by_round[2] and not (by_round[1] | by_round[2]) & by_round[3]
    assert run.rounds_note() == ("stopped after round 3 of 0..7: no candidate of the last 3 "
                                 "rounds improved y over its base (the base is kept)")
    # A stopped search resumed with more patience goes on; nothing is looked up twice.
    more = WorseAfterRound0(nb201.DEFAULT_CSV)
    assert searched("p2", 3, more).rounds == 5
    fifth = [c for c in readers.load_run(str(tmp_path / "p2")).candidates if c.round == 4]
    assert fifth and not {c.key for c in fifth} & set().union(*by_round[1:])
    assert more.queries == sum(c.reused_from is None for c in fifth)

@pytest.mark.slow
def test_a_whole_search_writes_every_output(finished):
    out_dir, result = finished
    # TensorFlow's INFO lines and retracing warnings stay out of a search's output.
    for noise in ("Assets written", "signature_serialization", "triggered tf.function "
                  "retracing"):
        assert noise not in result.stdout + result.stderr
    run = readers.load_run(out_dir)
    assert [c.round for c in run.candidates] == [0, 0, 1, 1]
    for c in run.candidates:
        assert c.ok and 0 <= c.val_accuracy <= 1 and isinstance(c.y, float)
        assert c.arch == cells.canonical(c.arch)
    assert [r.round for r in run.rounds] == [0, 1]
    assert run.rounds[0].base_arch is None
    assert run.rounds[1].base_arch == run.rounds[0].best_arch
    assert arch_json.load(os.path.join(out_dir, "best_arch.json")) == run.rounds[-1].best_arch
    assert os.path.exists(os.path.join(out_dir, "scc.keras"))
    assert run.summary.trained == 4 and run.summary.rounds == 2
    assert (run.config.train["recipe"], run.config.train["bn_momentum"]) == ("paper", 0.9)
    assert "y against the round-0 best" in result.stdout
    assert result.stdout.count("val acc") >= 4  # a progress line per candidate


@pytest.mark.slow
def test_a_folder_of_images_ends_as_a_model_firmware_takes_as_it_is(finished):
    out_dir, result = finished
    assert "24 of its 120 images (20%, seed 0) are held out as the test split" in result.stdout
    assert json.load(open(os.path.join(out_dir, "class_names.json"))) == list(FOLDER_CLASSES)
    run = readers.load_run(out_dir)
    assert run.config.data.startswith("folder:")
    deployed = run.summary.final.deployed
    # The int8 model reads raw pixels and predicts what the Keras model predicts.
    assert deployed["int8_agreement"] >= 0.95, deployed
    assert deployed["tflm_arena_head_bytes"] == deployed["planned_arena_bytes"]
    int8 = open(os.path.join(out_dir, "final", "model_int8.tflite"), "rb").read()
    source = open(os.path.join(out_dir, "final", "model_data.cc")).read()
    assert c_array(source) == (int8, len(int8))


@pytest.mark.slow
def test_inherit_keeps_each_base_model_and_the_final_network_is_tested(finished):
    out_dir, result = finished
    run = readers.load_run(out_dir)
    assert run.config.search.inherit and run.config.search.final_epochs == 1
    assert run.config.evaluation.startswith("inherited from the base, fine-tuned 1 epochs")
    kept = sorted(os.path.basename(p) for p in glob.glob(os.path.join(out_dir, "base_round*")))
    improved = [r.round for r in run.rounds if r.improved]
    assert kept == sorted([f"base_round{r + 1:02d}.json" for r in range(len(run.rounds))]
                          + [f"base_round{r + 1:02d}.keras" for r in improved])
    # The round-1 base's model is round 0's best, saved with the architecture it was built from.
    model, arch = train.load_model(os.path.join(out_dir, "base_round01.keras"))
    assert arch == run.rounds[0].best_arch and model.count_params() > 0
    assert not glob.glob(os.path.join(out_dir, "models", "*", "*.keras"))  # dropped per round
    final = run.summary.final
    assert final.ok and final.epochs == 1 and 0 <= final.test_accuracy <= 1
    assert final.key == arch_json.key(run.summary.best_arch)
    assert (final.param_bytes, final.activation_bytes) == (run.summary.best.param_bytes,
                                                            run.summary.best.activation_bytes)
    assert records.OutDir(out_dir).final() == final
    assert train.load_model(os.path.join(out_dir, "final", "model.keras"))[1] == \
        run.summary.best_arch
    assert run.final()[1].accuracy == final.test_accuracy and "test accuracy" in \
        run.accuracy_kind
    assert f"test acc {final.test_accuracy:.4f} after 1 epochs" in result.stdout
    # The deliverable: the int8 .tflite beside the model, its TFLite-Micro arena as predicted.
    deployed = final.deployed
    assert os.path.getsize(os.path.join(out_dir, "final", "model_int8.tflite")) == \
        deployed["tflite_int8_bytes"]
    assert deployed["trained"] and 0 <= deployed["int8_test_accuracy"] <= 1
    assert deployed["tflm_arena_head_bytes"] == deployed["planned_arena_bytes"]
    assert f"TFLite-Micro arena head {deployed['tflm_arena_head_bytes']:,} B" in result.stdout
    # The Pareto front's last point is the final network, with its test accuracy.
    points = json.load(open(os.path.join(out_dir, "pareto.json")))["points"]
    assert len(points) == len(run.candidates) + 1
    assert (points[-1]["round"], points[-1]["key"], points[-1]["accuracy"],
            points[-1]["accuracy_kind"]) == (None, final.key, final.test_accuracy, "test")


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_controller_checkpoint_loads_and_ranks(finished):
    import scc
    out_dir, _ = finished
    controller = scc.Controller.load(os.path.join(out_dir, "scc.keras"))
    scores = controller.predict(list(cells.ROUND0[:5]))
    assert scores.shape == (5,) and np.all(np.isfinite(scores))


@pytest.mark.slow
def test_a_killed_search_resumes_through_a_ray_head_without_retraining(images, finished,
                                                                       tmp_path):
    # Killed in its own process, resumed with --workers=2 through a Ray head started as the
    # docs start one (token authentication on, --ray_address), compared with the uninterrupted
    # one-process search of `finished`: neither the kill nor the workers change what it finds.
    reference_dir, _ = finished
    token = tmp_path / "auth_token"
    token.write_text("0123456789abcdef" * 4)
    out_dir = str(tmp_path / "killed")
    log = os.path.join(out_dir, "candidates.jsonl")
    # --noexport_final: the export is `finished`'s to test, and costs half a minute.
    process = subprocess.Popen(search_args(images, out_dir, *INHERIT, "--noexport_final"),
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (os.path.exists(log) and open(log).read().count("\n")):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = guard.read_jsonl(log)
    assert 1 <= len(first) <= 2  # killed after its first trained candidate
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("RAY_AUTH")}
    with ray_head(token) as address:
        # A driver given the wrong token is refused in one line saying what to set (in a
        # process of its own: Ray keeps the token it was imported with).
        refused = subprocess.run(
            search_args(images, out_dir, *INHERIT, "--noexport_final", "--workers=2",
                        f"--ray_address={address}"), cwd=ROOT, capture_output=True, text=True,
            timeout=300, env=dict(env, RAY_AUTH_TOKEN="not the token",
                                  RAY_gcs_server_port_wait_time_s="2"))  # Ray's 20 tries: 2
        assert_one_line_error(refused, f"search.py: --ray_address: the head at {address} "
                              "refused this driver (with the token of RAY_AUTH_MODE=token); "
                              "copy the head's token (`ray get-auth-token` on the head) to "
                              f"{parallel.AUTH_TOKEN_FILE} here or set RAY_AUTH_TOKEN")
        # The search finds the token where the user put it and sends it.
        result = run_search(images, out_dir, *INHERIT, "--noexport_final", "--workers=2",
                            f"--ray_address={address}",
                            env=dict(env, RAY_AUTH_TOKEN_PATH=str(token)))
    assert "(already trained)" in result.stdout
    assert "round 1: 2/2 done, 0 running, 0 failed" in result.stdout
    assert len(glob.glob(os.path.join(out_dir, "logs", "round01_*.log"))) == 2
    resumed = guard.read_jsonl(log)
    assert resumed[:len(first)] == first
    keys = [(c["round"], c["key"]) for c in resumed]
    assert len(keys) == len(set(keys))  # nothing trained twice
    reference = guard.read_jsonl(os.path.join(reference_dir, "candidates.jsonl"))
    assert set(keys) == {(c["round"], c["key"]) for c in reference}
    # Seeded per candidate: the resumed search measured what the uninterrupted one did.
    assert sorted((c["key"], c["val_accuracy"]) for c in resumed) == \
        sorted((c["key"], c["val_accuracy"]) for c in reference)
    final, reference_final = records.OutDir(out_dir).final(), records.OutDir(reference_dir).final()
    assert final.deployed is None
    assert final == dataclasses.replace(reference_final, seconds=final.seconds, deployed=None)
    assert readers.load_run(out_dir).summary.final == final


@pytest.mark.slow
def test_an_out_dir_from_before_recipes_resumes_with_its_settings_and_says_so(
        images, finished, tmp_path):
    # `finished` as a search before recipes and BatchNorm momentum were settings left it.
    out_dir = str(tmp_path / "old")
    shutil.copytree(finished[0], out_dir)
    config = json.loads(open(os.path.join(out_dir, "config.json")).read())
    for name in records.ADDED_LATER:
        if name.startswith("train."):
            del config["train"][name[len("train."):]]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f)
    # ... and exported before the int8 model's agreement with Keras was measured.
    result_path = os.path.join(out_dir, "final", "result.json")
    result = json.loads(open(result_path).read())
    del result["deployed"]["int8_agreement"]
    with open(result_path, "w") as f:
        json.dump(result, f)
    lines = guard.read_jsonl(os.path.join(out_dir, "candidates.jsonl"))
    changed = tmp_path / "changed"
    shutil.copytree(out_dir, changed)
    resumed, refused = run_mains(
        "search.py", search_args(images, out_dir, *INHERIT)[2:],
        search_args(images, changed, *INHERIT, "--bn_momentum=0.9")[2:])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumes with what it computed then: mixed_precision float32, recipe paper, " \
           "nesterov False, lr_schedule sgdr, warmup_fraction 0.0, label_smoothing 0.0, " \
           "bn_momentum 0.99, bn_recalibration 0" in resumed.stdout
    assert guard.read_jsonl(os.path.join(out_dir, "candidates.jsonl")) == lines  # none new
    assert "final: training" not in resumed.stdout  # finished: its final network is read back
    assert "deployed (" in resumed.stdout and "same class as Keras" not in resumed.stdout
    assert records.OutDir(out_dir).config().train["bn_momentum"] == 0.99
    assert_one_line_error(refused, f"search.py: {changed} holds a search with other settings "
                                   "(train.bn_momentum: 0.99 before, 0.9 now); use another "
                                   "--out_dir")


@pytest.mark.slow
def test_bad_input_is_one_line_naming_the_problem(tiny_npz, tmp_path):
    dead = arch_json.to_json(cells.FIGURE_1B)
    for cell in dead["blocks"][1]["cells"]:
        cell["inputs"] = [None, None]
    (tmp_path / "dead.json").write_text(json.dumps(dead))
    (tmp_path / "a_file").write_text("")
    # Nothing within the budget: the library's message, for the data and width (64) of the CLI.
    import inputs
    with pytest.raises(ValueError) as nothing_fits:
        rounds.check_start(None, 64, search_config.SearchConfig(max_param_bytes=1000),
                           inputs.load_data(f"npz:{tiny_npz}"))
    assert str(nothing_fits.value).startswith("--max_param_bytes=1,000: no round-0 candidate "
                                              "fits; the smallest has param_bytes ")
    # One case per kind of input (a flag's rule, the out_dir, an architecture file, the data),
    # as a user runs them; the library raises the same messages (tests of records, cells, train).
    cases = [
        (["--seed=-5"], "search.py: --seed must be at least 0, got -5"),
        ([f"--out_dir={tmp_path / 'a_file'}"],
         f"search.py: --out_dir: {tmp_path / 'a_file'} is a file, not a directory"),
        ([f"--base={tmp_path / 'dead.json'}"],
         f"search.py: {tmp_path / 'dead.json'}: block 2: no output: every output cell is dead "
         f"after pruning"),
        (["--dataset=npz:missing.npz"], "search.py: npz:missing.npz: no such file"),
        (["--workers=0"], "search.py: --workers must be at least 1, got 0"),
        ([f"--dataset=npz:{tiny_npz}", "--max_param_bytes=1k"],
         f"search.py: {nothing_fits.value}"),
        (["--gpus_per_candidate=-1"], "search.py: --gpus_per_candidate must be at least 0, "
                                      "got -1.0"),
        (["--space=nb201", "--workers=2"], "search.py: --workers: a --space=nb201 search "
                                           "looks its accuracies up and trains nothing to "
                                           "spread over workers"),
        (["--space=nb201", "--benchmark=nb101"],
         "search.py: --benchmark: must be nb201 or nb201:PATH, got 'nb101'"),
        ([f"--dataset=npz:{tiny_npz}", "--ray_address=127.0.0.1:9"],
         "search.py: --ray_address: nothing answers at 127.0.0.1:9 (Connection refused); "
         "start the head with `ray start --head`"),
    ]
    results = run_mains("search.py", *([f"--out_dir={tmp_path / 'o'}", *args]
                                       for args, _ in cases))
    for result, (_, expected) in zip(results, cases):
        assert_one_line_error(result, expected)


def test_a_meter_says_how_far_and_when_it_will_end():
    now = iter([100.0, 130.0, 190.0]).__next__  # made at 100 s; asked at 130 s, then 190 s
    meter = meters.Meter(4, now=now)
    assert meter.line(1) == "1/4, 0:00:30 elapsed, ETA 0:01:30"  # 30 s each, 3 left
    assert meter.line(3) == "3/4, 0:01:30 elapsed, ETA 0:00:30"
    assert meters.clock(3725) == "1:02:05"


def test_on_a_terminal_a_bar_of_the_rounds_candidates_is_drawn_between_the_lines(tmp_path,
                                                                                 capsys):
    config = search_config.SearchConfig(lambda_=0.5, rounds=1, k=3, strategy="memory",
                                        final_epochs=0)
    search.run(str(tmp_path / "bar"), Task(), config,
               recipes.TrainConfig(filters=FILTERS, verbose=0), evaluator=params_accuracy,
               log=meters.terminal_log, front_png=False, progress_bar=True)
    out = capsys.readouterr().out
    # Each line first erases the bar; Keras' bar counts candidates and ends at 3/3.
    assert out.count("\r\033[K  [") == 3 and "3/3" in out and "/candidate" in out
    search.run(str(tmp_path / "log"), Task(), config,
               recipes.TrainConfig(filters=FILTERS, verbose=0), evaluator=params_accuracy,
               log=print, front_png=False)
    out = capsys.readouterr().out
    assert "\r" not in out and "/candidate" not in out  # a log file: only the lines


def test_a_search_prints_how_far_each_round_and_the_search_are(tmp_path):
    lines = []
    config = search_config.SearchConfig(lambda_=0.5, rounds=2, k=3, strategy="memory",
                                        final_epochs=0)
    search.run(str(tmp_path), Task(), config, recipes.TrainConfig(filters=FILTERS, verbose=0),
               evaluator=params_accuracy, log=lines.append, front_png=False)
    trained = [line for line in lines if line.startswith("  [")]
    assert len(trained) == 6 and re.search(r"\(round 1: 3/3, 0:00:\d\d elapsed, ETA 0:00:00\)$",
                                           trained[-1])
    assert re.fullmatch(r"search: 1/2 rounds, 0:00:\d\d elapsed, ETA 0:00:\d\d \(if it runs "
                        r"them all\)", next(line for line in lines if line.startswith("search:")))
