"""records.py: every record reads back as written, a kill loses nothing finished, a resume
must keep its settings, and readers get one-line errors."""
import json

import pytest

import arch_json
import cells
import readers
import guard
import records
import search_config
from conftest import MIB, run_script, write_search
from efficiency import Stats

ARCH = cells.one_cell("conv3x3", "maxpool3x3")
CONFIG = records.RunConfig(search_config.SearchConfig(lambda_=0.5, rounds=3, k=2),
                           {"filters": 8, "epochs": 2, "verbose": 0}, "npz:x.npz",
                           "trained from scratch, 2 epochs")


def quiet(line):
    del line


def test_every_record_reads_back_equal_to_what_was_written(tmp_path):
    out = records.OutDir(str(tmp_path / "run"))
    out.start(CONFIG, log=quiet)
    candidate = records.Candidate(round=1, key=arch_json.key(ARCH), arch=ARCH, val_accuracy=0.5,
                                  param_bytes=1000, activation_bytes=2000, y=0.25, seconds=1.5,
                                  status="ok", reused_from=0)
    failed = records.Candidate(round=1, key="other", arch=cells.FIGURE_1B, val_accuracy=None,
                               param_bytes=1, activation_bytes=2, y=None, seconds=0.0,
                               status="nan")
    round_ = records.Round(round=0, base_arch=None, base=Stats(0.1, 100, 200),
                           best_key=candidate.key, best_arch=ARCH, best=Stats(0.5, 1000, 2000),
                           best_y=0.25, improved=True, trained=2, failed=1)
    selection = records.Selection(round=1, ranked_by="memory terms of Eq. 4",
                                  selected=("a", "b"), scores=(0.5, 0.25))
    final = records.Final(key=candidate.key, test_accuracy=0.625, param_bytes=1000,
                          activation_bytes=2000, epochs=60, seconds=9.5, status="ok")
    summary = records.Summary(rounds=1, best_arch=ARCH, best=Stats(0.5, 1000, 2000),
                              round0_best=Stats(0.5, 1000, 2000), y_vs_round0=0.0, trained=2,
                              seconds=3.0, final=final)
    out.append_candidate(candidate)
    out.append_candidate(failed)
    out.append_round(round_)
    out.write_selection(selection)
    out.write_summary(summary)
    assert out.final() is None
    out.write_final(final)
    run = readers.load_run(str(tmp_path / "run"))
    assert out.final() == final
    assert run.config == CONFIG
    assert run.candidates == [candidate, failed]
    assert [c.ok for c in run.candidates] == [True, False]
    assert run.rounds == [round_]
    assert out.selection(1) == selection and out.selection(2) is None
    assert run.summary == summary
    # The final network's test accuracy is what readers report, and they say so.
    assert run.final() == (ARCH, Stats(0.625, 1000, 2000))
    assert run.accuracy_kind.startswith("test accuracy after the final training (60 epochs")
    # Stats are stored by their names, not as p and r.
    line = json.loads((tmp_path / "run" / "rounds.jsonl").read_text())
    assert line["best"] == {"accuracy": 0.5, "param_bytes": 1000, "activation_bytes": 2000}


def test_a_line_cut_by_a_crash_is_dropped_on_resume_and_skipped_by_readers(tmp_path):
    out = records.OutDir(str(tmp_path))
    out.start(CONFIG, log=quiet)
    path = tmp_path / "candidates.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b": [1, 2')
    assert guard.read_jsonl(str(path)) == [{"a": 1}, {"a": 2}]  # a reader leaves it there
    assert path.read_text().endswith("[1, 2")
    warnings = []
    out.start(CONFIG, log=warnings.append)
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'
    assert len(warnings) == 1 and "cut short by an earlier crash" in warnings[0]
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match="candidates.jsonl: line 2 is not JSON"):
        guard.read_jsonl(str(path))


def test_a_resume_may_change_how_a_search_runs_but_not_what_it_computes(tmp_path):
    out = records.OutDir(str(tmp_path))
    out.start(CONFIG, log=quiet)
    longer = records.RunConfig(search_config.SearchConfig(lambda_=0.5, rounds=9, k=2),
                               {**CONFIG.train, "verbose": 2}, CONFIG.data, CONFIG.evaluation)
    out.start(longer, may_change=("search.rounds", "train.verbose"), log=quiet)
    other = records.RunConfig(CONFIG.search, {**CONFIG.train, "epochs": 3}, CONFIG.data,
                              CONFIG.evaluation)
    with pytest.raises(ValueError, match=r"holds a search with other settings \(train.epochs: "
                                         r"2 before, 3 now\); use another --out_dir"):
        out.start(other, may_change=("search.rounds", "train.verbose"), log=quiet)


def test_a_setting_added_later_resumes_at_what_older_out_dirs_computed(tmp_path):
    out = records.OutDir(str(tmp_path))
    out.start(CONFIG, log=quiet)  # written before train.mixed_precision existed
    same = records.RunConfig(CONFIG.search, {**CONFIG.train, "mixed_precision": "float32"},
                             CONFIG.data, CONFIG.evaluation)
    out.start(same, log=quiet)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG.to_json()))
    other = records.RunConfig(CONFIG.search, {**CONFIG.train,
                                              "mixed_precision": "mixed_bfloat16"},
                              CONFIG.data, CONFIG.evaluation)
    with pytest.raises(ValueError, match=r"train.mixed_precision: 'float32' before, "
                                         r"'mixed_bfloat16' now"):
        out.start(other, log=quiet)


def test_an_out_dir_from_before_recipes_resumes_with_keras_batchnorm_and_the_paper(tmp_path):
    out = records.OutDir(str(tmp_path))
    assert out.train_added_later() == {}  # nothing written yet
    out.start(CONFIG, log=quiet)  # its train section has none of the recipe's settings
    earlier = out.train_added_later()
    assert earlier == {"mixed_precision": "float32", "recipe": "paper", "nesterov": False,
                       "lr_schedule": "sgdr", "warmup_fraction": 0.0, "label_smoothing": 0.0,
                       "bn_momentum": 0.99, "bn_recalibration": 0}
    out.start(records.RunConfig(CONFIG.search, {**CONFIG.train, **earlier}, CONFIG.data,
                                CONFIG.evaluation), log=quiet)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG.to_json()))
    today = records.RunConfig(CONFIG.search, {**CONFIG.train, **earlier, "bn_momentum": 0.9},
                              CONFIG.data, CONFIG.evaluation)
    with pytest.raises(ValueError, match=r"train.bn_momentum: 0.99 before, 0.9 now"):
        out.start(today, log=quiet)


def test_an_out_dir_from_before_memory_budgets_resumes_without_one(tmp_path):
    old = CONFIG.to_json()
    for name in ("max_param_bytes", "max_activation_bytes"):
        del old["search"][name]
    (tmp_path / "config.json").write_text(json.dumps(old))
    out = records.OutDir(str(tmp_path))
    assert out.config() == CONFIG  # no budget
    out.start(CONFIG, log=quiet)
    (tmp_path / "config.json").write_text(json.dumps(old))
    budget = records.RunConfig(search_config.SearchConfig(lambda_=0.5, rounds=3, k=2,
                                                          max_param_bytes=10_000),
                               CONFIG.train, CONFIG.data, CONFIG.evaluation)
    # A budget changes which candidates are ranked: a resume may not change it.
    with pytest.raises(ValueError, match=r"search.max_param_bytes: None before, 10000 now"):
        out.start(budget, log=quiet)
    # A round recorded before budgets existed excluded nothing.
    line = records.Round(round=0, base_arch=None, base=Stats(0.1, 1, 2), best_key="k",
                         best_arch=ARCH, best=Stats(0.5, 1, 2), best_y=0.1, improved=True,
                         trained=2, failed=0).to_json()
    del line["excluded"]
    assert records.Round.from_json(line).excluded == 0


def test_a_budget_fits_a_network_within_every_budget_set():
    stats = Stats(None, 1000, 2000)
    config = search_config.SearchConfig
    assert config().fits(stats)
    assert config(max_param_bytes=1000, max_activation_bytes=2000).fits(stats)
    assert not config(max_param_bytes=999).fits(stats)
    assert not config(max_param_bytes=10**6, max_activation_bytes=1999).fits(stats)
    assert config(max_activation_bytes=2000).budgets() == {"activation_bytes": 2000}


def test_an_out_dir_of_an_earlier_format_is_refused_by_name(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"lambda_": 0.5, "train": {}}))
    with pytest.raises(ValueError, match=r"config.json: out_dir format 1, this version reads "
                                         r"format 2; rerun that search"):
        readers.load_run(str(tmp_path))


def test_an_out_dir_that_is_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(ValueError, match=f"--out_dir: {tmp_path / 'taken'} is a file, not a "
                                         "directory"):
        records.OutDir(str(tmp_path / "taken"))


def test_the_final_network_of_an_unfinished_search_is_its_last_rounds(tmp_path):
    path = write_search(tmp_path / "a", 0.5, [(0.3, MIB, 2 * MIB), (0.4, MIB // 2, MIB)],
                        finished=False)
    run = readers.load_run(path)
    assert run.final() == (cells.FIGURE_1B, Stats(0.4, MIB // 2, MIB))
    assert run.rounds_note() == "unfinished: 2 of 3 rounds so far"
    assert run.describe() == ("npz:fake.npz, filters 8, trained from scratch, 2 epochs, k 2, "
                              "strategy memnas, 2 rounds")


def test_a_search_that_stopped_says_why(tmp_path):
    path = write_search(tmp_path / "a", 1.0, [(0.3, MIB, MIB), (0.3, MIB, MIB)],
                        improved=[True, False])
    assert readers.load_run(path).rounds_note() == (
        "stopped after round 1 of 0..2: no candidate of that round improved y over its base "
        "(the base is kept)")


def test_find_runs_reads_a_folder_of_searches_and_refuses_two_of_one_lambda(tmp_path):
    write_search(tmp_path / "x" / "one", 1.0, [(0.3, MIB, MIB)])
    write_search(tmp_path / "x" / "half", 0.5, [(0.3, MIB, MIB)])
    runs = readers.runs_by_lambda(readers.find_runs([str(tmp_path / "x")]))
    assert list(runs) == [0.5, 1.0]
    write_search(tmp_path / "x" / "half_again", 0.5, [(0.3, MIB, MIB)])
    with pytest.raises(ValueError, match="two searches with lambda 0.5"):
        readers.runs_by_lambda(readers.find_runs([str(tmp_path / "x")]))
    with pytest.raises(ValueError, match="--runs: .*nowhere: no such directory"):
        readers.find_runs([str(tmp_path / "nowhere")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no search.py out_dir"):
        readers.find_runs([str(tmp_path / "empty")])


def test_reading_searches_and_eq4_never_load_tensorflow():
    result = run_script("-c", "import sys, records, readers, efficiency, search_config; "
                              "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    assert result.returncode == 0, result.stderr


def test_the_best_candidates_model_becomes_the_next_base_model(tmp_path):
    out = records.OutDir(str(tmp_path))
    assert out.base_model_path(1) is None
    with pytest.raises(ValueError, match="the trained model of the round's best candidate is "
                                         "missing"):
        out.keep_base_model(0, "key-a")
    with open(out.model_path(0, "key-a"), "w") as f:
        f.write("model a")
    with open(out.model_path(0, "key-b"), "w") as f:
        f.write("model b")
    assert out.model_path(0, "key-a") != out.model_path(0, "key-b")
    out.keep_base_model(0, "key-a")
    assert open(out.base_model_path(1)).read() == "model a"
    out.drop_models(0)
    assert not (tmp_path / "models" / "round00").exists()
    assert open(out.base_model_path(1)).read() == "model a"
