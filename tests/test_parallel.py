"""parallel.py: settings, the data a task receives, and RayEvaluator on a private local Ray
(2 CPUs, loopback only) against the in-process evaluator. The whole search with --workers=2,
killed and resumed, is in test_search.py; bad flags on the command line there too."""
import os

import numpy as np
import pytest

import cells
import evaluation
import parallel
import recipes
import records
import rounds
import search_config
from conftest import images_and_labels

FILTERS = 4


def test_parallel_settings_name_the_bad_flag():
    for settings, message in [
            (dict(workers=0), "--workers must be at least 1, got 0"),
            (dict(gpus_per_candidate=-1), "--gpus_per_candidate must be at least 0, got -1"),
            (dict(cpus_per_candidate=0), "--cpus_per_candidate must be positive"),
            (dict(ray_address="head"), "--ray_address must be HOST:PORT")]:
        with pytest.raises(ValueError, match=message):
            parallel.Parallel(**settings)
    assert not parallel.Parallel().uses_ray  # --workers=1: no Ray at all
    assert parallel.Parallel(workers=2).uses_ray


def test_shares_divide_the_machine_among_workers_unless_given():
    machine = {"CPU": 16.0, "GPU": 2.0}
    assert parallel.shares(parallel.Parallel(workers=4), machine) == (4.0, 0.5)
    assert parallel.shares(parallel.Parallel(workers=1), machine) == (16.0, 1.0)  # 1 GPU at most
    assert parallel.shares(parallel.Parallel(workers=2), {"CPU": 2.0}) == (1.0, 0.0)
    assert parallel.shares(parallel.Parallel(workers=8, cpus_per_candidate=1,
                                             gpus_per_candidate=0.25), machine) == (1, 0.25)


def test_a_task_rebuilds_the_same_training_and_validation_images(tiny_data):
    shipment = parallel.ship(tiny_data)
    assert set(shipment.arrays) == {"train", "val"}  # candidates are never tested
    rebuilt = parallel.unship(shipment)
    for split in ("train", "val"):
        for got, want in zip(images_and_labels(getattr(rebuilt, split)),
                             images_and_labels(getattr(tiny_data, split))):
            np.testing.assert_array_equal(got, want)
    assert (rebuilt.num_train, rebuilt.num_val, rebuilt.num_classes) == \
        (tiny_data.num_train, tiny_data.num_val, tiny_data.num_classes)
    np.testing.assert_array_equal(rebuilt.mean, tiny_data.mean)


def test_a_streamed_data_set_needs_its_load_arguments(tiny_data):
    streamed = tiny_data.__class__(**{**tiny_data.__dict__, "in_memory": False})
    with pytest.raises(ValueError, match="arguments of inputs.load_data"):
        parallel.ship(streamed)
    assert parallel.ship(streamed, ("npz:x.npz", None, 0.25)).load_args == ("npz:x.npz", None,
                                                                             0.25)


@pytest.mark.slow
def test_two_workers_give_what_one_process_gives_and_a_killed_task_is_retried(tiny_data,
                                                                              tmp_path):
    marker = str(tmp_path / "crashed")

    def crash_once(*args):
        # The first task to start kills its own process, as the OOM killer or a lost node
        # would; Ray runs it again.
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return parallel.train_task(*args)
        os._exit(1)

    archs = [cells.one_cell("conv3x3", "maxpool3x3"), cells.one_cell("dwconv3x3", "avgpool3x3")]
    measured = rounds.measure(archs, FILTERS, search_config.SearchConfig(), tiny_data)
    job = evaluation.Job(0, tuple(measured), None, str(tmp_path / "out"), seed=3)
    config = recipes.TrainConfig(epochs=1, batch_size=8, filters=FILTERS, verbose=0,
                                 run_eagerly=True)
    alone = {o.key: o for o in evaluation.TrainEvaluator(tiny_data, config)(job)}
    lines = []
    with parallel.RayEvaluator(tiny_data, config, False, parallel.Parallel(workers=2),
                               log=lines.append, task=crash_once) as evaluator:
        together = {o.key: o for o in evaluator(job)}
        # The private instance listens on loopback only, and checks a token (Ray 2.60 turns
        # token authentication on for local instances; pinned Ray, private API).
        from ray._private.authentication import authentication_utils
        assert evaluator.ray._private.worker.global_worker.node.gcs_address.startswith(
            "127.0.0.1:")
        assert authentication_utils.is_token_auth_enabled()
    assert os.path.exists(marker)
    assert set(together) == set(alone)
    for key, outcome in together.items():
        assert outcome.status == "ok", outcome.status
        assert outcome.val_accuracy == pytest.approx(alone[key].val_accuracy, abs=1e-6)
    # The driver wrote each task's Keras output (verbose=2: a line per epoch).
    out = records.OutDir(job.out_dir)
    for key in together:
        log = open(out.log_path(0, key)).read()
        assert log.startswith(key) and log.count(" - loss: ") == 1 and "status ok" in log
    assert lines[0].startswith("ray: 2 workers, 1 CPUs and 0 GPUs per candidate")
    assert lines[-1].startswith("round 0: 2/2 done, 0 running, 0 failed")


def test_a_driver_joining_a_cluster_sends_the_token_it_finds_unless_a_mode_was_chosen(
        tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.ray/auth_token: not there yet
    assert parallel.auth_environment({}) == {}
    assert parallel.auth_environment({"RAY_AUTH_TOKEN": "t"}) == {"RAY_AUTH_MODE": "token"}
    assert parallel.auth_environment({"RAY_AUTH_TOKEN_PATH": "f"}) == {"RAY_AUTH_MODE": "token"}
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("t")  # as `ray start --head` writes it
    assert parallel.auth_environment({}) == {"RAY_AUTH_MODE": "token"}
    assert parallel.auth_environment({"RAY_AUTH_MODE": "disabled"}) == {}
