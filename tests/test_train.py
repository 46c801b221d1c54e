"""train.py: the training recipe, starting from a given model, failures, saved models with their
architecture, and the command line (data and augmentation: test_inputs.py)."""
import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_mains
import arch_json
import cells
import grow_trim
import pipelines
import network
import recipes
import train


# Tiny and quick: 1 epoch of a round-0 network at w = 4 on a few dozen 32x32 images.
TINY = recipes.TrainConfig(epochs=1, batch_size=8, filters=4, verbose=0)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=-1), "epochs must be at least 0, got -1"),
    (dict(batch_size=0), "batch_size must be at least 1"),
    (dict(filters=0), "filters must be at least 1"),
    (dict(sgdr_first_epochs=0), "sgdr_first_epochs must be at least 1"),
    (dict(learning_rate=0.0), "learning_rate must be positive"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (dict(pad=-1), "pad must be at least 0"),
    (dict(cutout=-1), "cutout must be at least 0"),
    (dict(sgdr_t_mul=0.5), "sgdr_t_mul must be at least 1"),
    (dict(verbose=3), "verbose must be 0, 1 or 2"),
    (dict(mixed_precision="float16"), "mixed_precision must be one of float32, mixed_bfloat16, "
                                      "mixed_float16, got 'float16'"),
    (dict(jit_compile="yes"), "jit_compile must be True, False or 'auto', got 'yes'"),
    (dict(run_eagerly=True, jit_compile=True), "run_eagerly and jit_compile exclude each other"),
    (dict(recipe="fast"), "recipe must be one of paper, short, got 'fast'"),
    (dict(lr_schedule="step"), "lr_schedule must be one of sgdr, warmup_cosine, got 'step'"),
    (dict(bn_momentum=1.0), r"bn_momentum must be in \[0, 1\)"),
    (dict(warmup_fraction=-0.1), r"warmup_fraction must be in \[0, 1\)"),
    (dict(label_smoothing=1.0), r"label_smoothing must be in \[0, 1\)"),
    (dict(bn_recalibration=-1), "bn_recalibration must be at least 0"),
])
def test_bad_train_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        recipes.TrainConfig(**kwargs)


def test_fast_path_defaults_train_as_before_it_existed():
    config = recipes.TrainConfig()
    assert config.mixed_precision == "float32" and config.jit_compile == "auto"  # Keras' default
    assert "jit_compile" in recipes.EXECUTION_ONLY
    assert "mixed_precision" not in recipes.EXECUTION_ONLY


def test_paper_defaults():
    config = recipes.TrainConfig()
    assert (config.epochs, config.batch_size, config.learning_rate, config.momentum) == \
        (60, 128, 0.01, 0.9)
    assert (config.pad, config.cutout, config.filters) == (4, 16, 64)
    # SGDR cycles of 4, 8, 16 and 32 epochs end exactly at epoch 60.
    assert sum(config.sgdr_first_epochs * config.sgdr_t_mul ** i for i in range(4)) == 60


def test_a_recipe_fills_only_the_values_not_given():
    assert recipes.TrainConfig.of_recipe("paper") == recipes.TrainConfig()
    short = recipes.TrainConfig.of_recipe("short", epochs=3, cutout=None, filters=16)
    assert (short.recipe, short.epochs, short.batch_size, short.learning_rate) == \
        ("short", 3, 256, 0.2)
    assert (short.nesterov, short.lr_schedule, short.label_smoothing, short.weight_decay,
            short.cutout, short.filters) == (True, "warmup_cosine", 0.1, 5e-4, 0, 16)
    with pytest.raises(ValueError, match="--recipe must be one of paper, short, got 'fast'"):
        recipes.TrainConfig.of_recipe("fast")


def test_sgdr_restarts_at_the_end_of_each_period():
    # 10 steps an epoch, T_0 = 4 epochs, T_mult 2: periods of 40 and 80 steps.
    schedule = train.learning_rate_schedule(recipes.TrainConfig(), 10)
    lr = [float(schedule(t)) for t in (0, 20, 40, 60, 120)]
    # eta_max (1 + cos(pi T_cur / T_i)) / 2 with eta_max 0.01: T_cur/T_i = 0, 1/2, 0, 1/4, 0
    np.testing.assert_allclose(lr, [0.01, 0.005, 0.01, 0.01 * (1 + 2 ** -0.5) / 2, 0.01],
                               rtol=1e-5)


def test_warmup_cosine_rises_linearly_then_decays_to_zero():
    # 2 epochs of 10 steps: T = 20, warm-up W = 0.1 * 20 = 2 steps to 0.2, then 18 of cosine.
    config = recipes.TrainConfig.of_recipe("short", epochs=2)
    schedule = train.learning_rate_schedule(config, 10)
    lr = [float(schedule(t)) for t in (0, 1, 2, 5, 11, 20)]
    # t = 5: 0.2 (1 + cos(pi 3/18)) / 2 = 0.1 (1 + sqrt(3)/2); t = 11: halfway, 0.1.
    np.testing.assert_allclose(lr, [0.0, 0.1, 0.2, 0.1 * (1 + 3 ** 0.5 / 2), 0.1, 0.0],
                               rtol=1e-5, atol=1e-7)


def test_label_smoothing_moves_the_target_toward_uniform():
    logits = np.array([[2.0, 0.0, 0.0, 0.0]], np.float32)
    log_p = logits[0] - np.log(np.exp(logits[0]).sum())
    target = np.array([0.9 + 0.1 / 4, 0.1 / 4, 0.1 / 4, 0.1 / 4])  # e = 0.1, 4 classes
    smoothed = float(train.loss_function(0.1)(np.array([0]), logits))
    assert smoothed == pytest.approx(-(target * log_p).sum(), rel=1e-5)
    assert float(train.loss_function(0.0)(np.array([0]), logits)) == \
        pytest.approx(-log_p[0], rel=1e-5)


def test_every_batchnorm_layer_carries_the_configured_momentum():
    def momenta(model):
        return {layer.momentum for layer in train._sublayers(model)
                if isinstance(layer, keras.layers.BatchNormalization)}

    assert momenta(network.build_model(cells.FIGURE_1B, filters=4)) == {0.9}
    assert momenta(network.build_model(cells.FIGURE_1B, filters=4, bn_momentum=0.99)) == {0.99}
    from reproduce import baselines
    assert momenta(baselines.resnet_cifar(8)) == {0.9}


def test_recalibration_leaves_the_mean_of_the_batch_statistics():
    inputs_ = keras.Input((2,))
    norm = keras.layers.BatchNormalization(momentum=0.9)
    model = keras.Model(inputs_, norm(inputs_))
    # Three batches of two rows: batch means (1, 10), (3, 20), (5, 30); variances 1, 4, 9 in
    # the first column (rows m - s and m + s), 0 in the second.
    rows = [[[0, 10], [2, 10]], [[1, 20], [5, 20]], [[2, 30], [8, 30]]]
    batches = tf.data.Dataset.from_tensor_slices(
        (np.array(rows, np.float32), np.zeros((3, 2), np.int64)))
    train.recalibrate_batchnorm(model, batches, 3)
    np.testing.assert_allclose(norm.moving_mean.numpy(), [3, 20], rtol=1e-6)
    np.testing.assert_allclose(norm.moving_variance.numpy(), [14 / 3, 0], rtol=1e-5, atol=1e-6)
    assert norm.momentum == 0.9  # given back


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.keras"
    result = train.train(cells.ROUND0[0], tiny_data, TINY, model_path=path, evaluate_test=True)
    return result, path


def test_train_one_epoch_and_save(trained, tiny_data):
    result, path = trained
    assert result.status == "ok" and result.epochs == 1 and result.seconds > 0
    assert 0 <= result.val_accuracy <= 1 and 0 <= result.test_accuracy <= 1
    assert not os.path.exists(str(path)[:-len(".keras")] + ".tmp.keras")
    model = keras.models.load_model(path)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    val = model.evaluate(pipelines.eval_pipeline(tiny_data, tiny_data.val, 8), verbose=0,
                         return_dict=True)
    assert val["accuracy"] == pytest.approx(result.val_accuracy)


def test_same_seed_same_network(trained, tiny_data, tmp_path):
    path = tmp_path / "again.keras"
    result = train.train(cells.ROUND0[0], tiny_data, TINY, model_path=path)
    assert result.status == "ok" and result.test_accuracy is None  # test only when asked
    assert result.val_accuracy == trained[0].val_accuracy
    images = next(iter(pipelines.eval_pipeline(tiny_data, tiny_data.val, 8)))[0]
    first = keras.models.load_model(trained[1]).predict(images, verbose=0)
    second = keras.models.load_model(path).predict(images, verbose=0)
    np.testing.assert_array_equal(first, second)


class KilledAfter(keras.callbacks.TerminateOnNaN):
    """train.train's TerminateOnNaN, raising at the end of epoch `last` (a kill there), and
    counting the epochs it saw end."""
    last, seen = None, []

    def on_epoch_end(self, epoch, logs=None):
        type(self).seen.append(epoch)
        if epoch == self.last:
            raise RuntimeError(f"killed after epoch {epoch}")


def test_a_training_killed_part_way_resumes_from_its_last_finished_epoch(
        tiny_data, tmp_path, monkeypatch):
    backup = tmp_path / "backup"
    config = dataclasses.replace(TINY, epochs=3, run_eagerly=True)
    monkeypatch.setattr(keras.callbacks, "TerminateOnNaN", KilledAfter)
    KilledAfter.last, KilledAfter.seen = 1, []
    killed = train.train(cells.ROUND0[0], tiny_data, config, backup_dir=str(backup))
    assert killed.status == "error: RuntimeError: killed after epoch 1"
    assert KilledAfter.seen == [0, 1] and backup.is_dir()  # epochs 0 and 1 saved
    KilledAfter.last, KilledAfter.seen, built = None, [], []

    def start():  # a fresh model, as train.train builds one, kept to read its optimizer
        built.append(network.build_model(cells.ROUND0[0], config.filters,
                                         tiny_data.num_classes, tiny_data.input_shape,
                                         bn_momentum=config.bn_momentum))
        return built[-1]
    resumed = train.train(cells.ROUND0[0], tiny_data, config, start=start,
                          backup_dir=str(backup))
    assert resumed.status == "ok" and resumed.epochs == 3
    assert KilledAfter.seen == [2]  # only the epoch left
    # The optimizer's state came back too: its step count (the learning rate's position).
    steps = pipelines.steps_per_epoch(tiny_data.num_train, config.batch_size)
    assert int(built[0].optimizer.iterations) == 3 * steps
    assert not backup.exists()  # a finished training leaves no backup


def test_eager_steps_train_the_same_network(trained, tiny_data, tmp_path):
    path = tmp_path / "eager.keras"
    result = train.train(cells.ROUND0[0], tiny_data, dataclasses.replace(TINY, run_eagerly=True),
                         model_path=path)
    assert result.status == "ok" and result.val_accuracy == trained[0].val_accuracy
    # Traced steps fuse ops differently, so weights agree to float32 rounding (seen: 2e-6
    # after one epoch), not bit for bit; another seed or a missed step differs by ~1e-1.
    for eager, traced in zip(keras.models.load_model(path).weights,
                             keras.models.load_model(trained[1]).weights):
        np.testing.assert_allclose(eager.numpy(), traced.numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The GPU fast path, checked for correctness on a CPU
# ---------------------------------------------------------------------------------------------

BF16 = dataclasses.replace(TINY, mixed_precision="mixed_bfloat16")


def keeping(built, data):
    """A `start` for train.train: a fresh round-0 network, appended to `built` so that a test
    can look at the model train.train compiled."""
    def start():
        built.append(network.build_model(cells.ROUND0[0], TINY.filters, data.num_classes,
                                       data.input_shape))
        return built[-1]
    return start


@pytest.mark.slow
def test_mixed_bfloat16_trains_saves_and_leaves_the_policy_float32(tiny_data, tmp_path):
    path = tmp_path / "bf16.keras"
    result = train.train(cells.ROUND0[0], tiny_data, BF16, model_path=path)
    assert result.status == "ok" and 0 <= result.val_accuracy <= 1
    assert keras.config.dtype_policy().name == "float32"  # the next model is float32 again
    model, arch = train.load_model(str(path))
    assert arch == cells.ROUND0[0]
    assert model.get_layer("stem").layers[0].compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32" == model.output.dtype
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    val = model.evaluate(pipelines.eval_pipeline(tiny_data, tiny_data.val, 8), verbose=0,
                         return_dict=True)
    assert val["accuracy"] == pytest.approx(result.val_accuracy)


def test_a_failing_candidate_gives_the_caller_its_dtype_policy_back(tiny_data):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        result = train.train(cells.Arch(blocks=()), tiny_data, BF16)
        policy = keras.config.dtype_policy().name
    finally:
        keras.config.set_dtype_policy("float32")
    assert result.status.startswith("error: ValueError: ") and policy == "mixed_float16"


@pytest.mark.slow
def test_mixed_float16_trains_with_loss_scaling(tiny_data):
    built = []
    result = train.train(cells.ROUND0[0], tiny_data,
                         dataclasses.replace(TINY, mixed_precision="mixed_float16"),
                         start=keeping(built, tiny_data))
    assert result.status == "ok" and 0 <= result.val_accuracy <= 1
    model = built[0]
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.get_layer("stem").layers[0].compute_dtype == "float16"
    assert model.get_layer("logits").compute_dtype == "float32"


@pytest.mark.slow
def test_a_float32_parent_seeds_a_mixed_bfloat16_child(trained, tiny_data, tmp_path):
    parent_model, parent_arch = train.load_model(str(trained[1]))
    child = grow_trim.grow(cells.canonical(parent_arch))[0][0]
    start = train.Inheriting(parent_model, parent_arch, child, BF16, tiny_data)
    path = tmp_path / "child.keras"
    result = train.train(child, tiny_data, dataclasses.replace(BF16, epochs=0), start=start,
                         model_path=path)
    assert result.status == "ok" and start.report.exact
    # The child computes its parent's function, rounded to bfloat16: an image near a decision
    # boundary may change class (one in 10 is 0.1).
    assert abs(result.val_accuracy - trained[0].val_accuracy) <= 0.1 + 1e-6
    model, _ = train.load_model(str(path))
    assert model.get_layer("stem").layers[0].compute_dtype == "bfloat16"


@pytest.mark.slow
def test_xla_trains_close_to_the_plain_steps(trained, tiny_data):
    built = []
    result = train.train(cells.ROUND0[0], tiny_data, dataclasses.replace(TINY, jit_compile=True),
                         start=keeping(built, tiny_data))
    assert result.status == "ok" and built[0].jit_compile is True  # Keras did not fall back
    assert abs(result.val_accuracy - trained[0].val_accuracy) <= 0.1 + 1e-6
    # XLA fuses ops differently: the same network up to float32 rounding (seen: 4e-7 after one
    # epoch), not bit for bit.
    for xla, plain in zip(built[0].weights, keras.models.load_model(trained[1]).weights):
        np.testing.assert_allclose(xla.numpy(), plain.numpy(), rtol=1e-4, atol=1e-5)


def test_non_finite_loss_gives_status_nan(tiny_data, tmp_path):
    # A zero std turns every pixel into +-inf (or nan): the first loss is not finite.
    broken = dataclasses.replace(tiny_data, std=np.zeros(3, np.float32))
    path = tmp_path / "nan.keras"
    result = train.train(cells.ROUND0[0], broken, TINY, model_path=path, evaluate_test=True)
    assert result.status == "nan"
    assert result.val_accuracy is None and result.test_accuracy is None
    assert not path.exists()  # a diverged network is not saved


def test_a_failing_model_is_a_status_not_an_exception(tiny_data):
    result = train.train(cells.Arch(blocks=()), tiny_data, TINY)
    assert result.status.startswith("error: ValueError: ")
    assert result.val_accuracy is None and result.epochs == 0


def test_zero_epochs_needs_a_model_to_start_from(tiny_data):
    with pytest.raises(ValueError, match="epochs=0 only evaluates, and needs a model"):
        train.train(cells.ROUND0[0], tiny_data, dataclasses.replace(TINY, epochs=0))


def test_a_saved_model_without_its_architecture_is_refused(trained, tmp_path):
    lone = tmp_path / "lone.keras"
    lone.write_bytes(open(trained[1], "rb").read())
    with pytest.raises(ValueError, match="lone.keras: no architecture beside it"):
        train.load_model(str(lone))


def test_model_path_must_be_keras_format(tiny_data):
    with pytest.raises(ValueError, match="model_path must end in .keras"):
        train.train(cells.ROUND0[0], tiny_data, TINY, model_path="model.h5")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def error_cases(tmp_path):
    """train.py's bad command lines: [(arguments, what the error says, *rules it names)]."""
    cases = [
        (["--dataset=npz:x.npz"], "--arch is required"),
        (["--arch=examples/figure1b.json", "--dataset=mnist"], "unknown dataset 'mnist'"),
        (["--arch=examples/figure1b.json", "--epochs=0"], "--epochs=0 only evaluates, and needs "
                                                          "--init"),
        (["--arch=examples/figure1b.json", "--epochs=-1", "--dataset=npz:x.npz"],
         "epochs must be at least 0"),
        (["--arch=examples/figure1b.json", "--init=nowhere/model.keras", "--epochs=0"],
         "nowhere/model.keras: no such model file"),
    ]
    # A bad architecture file is refused before the data is read (the data set does not exist
    # either: the architecture's error must come first).
    files = [
        ('{"blocks": []}', "block count"),
        (b'{"blocks": "\xe9"}', "not UTF-8 text"),
        # Every layer of block 2 removed: the file parses, but the block prunes to nothing.
        (json.dumps({"blocks": [{"cells": [{"inputs": [0, 0] if b != 1 else [None, None],
                                             "ops": ["conv3x3", "conv3x3"], "combine": "sum",
                                             "output": True}]} for b in range(5)]}), "block 2"),
    ]
    for n, (content, rule) in enumerate(files):
        arch_file = tmp_path / f"bad{n}.json"
        if isinstance(content, bytes):
            arch_file.write_bytes(content)
        else:
            arch_file.write_text(content)
        cases.append(([f"--arch={arch_file}", "--dataset=npz:missing.npz"],
                      f"{arch_file}: ", rule))
    return cases


@pytest.fixture(scope="module")
def trained_by_cli(npz, tmp_path_factory):
    """(out dir, its result.json) of `train.py` on a round-0 network, the arch file, and the
    results of error_cases: all through main in one process (one TensorFlow import)."""
    tmp_path = tmp_path_factory.mktemp("cli")
    arch_file = tmp_path / "arch.json"
    arch_json.save(cells.ROUND0[8], arch_file)
    out = tmp_path / "out"
    cases = error_cases(tmp_path)
    result, *errors = run_mains(
        "train.py", [f"--arch={arch_file}", f"--dataset=npz:{npz[0]}", "--epochs=1",
                     "--filters=4", "--batch_size=8", "--train_examples=16", "--verbose=0",
                     f"--out={out}"], *(c[0] for c in cases))
    assert result.returncode == 0, result.stderr
    assert "validation accuracy: " in result.stdout and "test accuracy: " in result.stdout
    return out, json.loads((out / "result.json").read_text()), arch_file, list(zip(errors, cases))


@pytest.mark.slow
def test_cli_trains_and_writes_result_model_and_architecture(trained_by_cli):
    out, report, arch_file, _ = trained_by_cli
    assert report["status"] == "ok" and report["epochs"] == 1
    assert (report["num_train"], report["num_val"], report["num_test"]) == (16, 4, 10)
    assert 0 <= report["val_accuracy"] <= 1 and 0 <= report["test_accuracy"] <= 1
    assert report["config"]["filters"] == 4 and report["config"]["learning_rate"] == 0.01
    assert len(report["mean"]) == 3 and report["arch"] == str(arch_file)
    model, arch = train.load_model(str(out / "model.keras"))
    assert arch == cells.ROUND0[8] and model.count_params() > 0


@pytest.fixture(scope="module")
def init_runs(npz, trained_by_cli, tmp_path_factory):
    """train.py --init from `trained_by_cli`'s model, three ways, through main in one process
    (one TensorFlow import): {"child": a grown child evaluated (--epochs=0), "width": the
    parent at another --filters, "fast": the parent as a bfloat16 child with XLA and the short
    recipe with two values overridden (last: it sets the mixed-precision policy)}, each
    (CompletedProcess, its --out)."""
    out, _, arch_file, _ = trained_by_cli
    tmp_path = tmp_path_factory.mktemp("init")
    child = grow_trim.grow(cells.canonical(cells.ROUND0[8]))[0][0]
    arch_json.save(child, tmp_path / "child.json")
    init = [f"--init={out / 'model.keras'}", "--epochs=0", f"--dataset=npz:{npz[0]}"]
    runs = {
        "child": [f"--arch={tmp_path / 'child.json'}", *init, "--filters=4", "--batch_size=8",
                  "--train_examples=16", f"--out={tmp_path / 'child'}"],
        "width": [f"--arch={arch_file}", *init, "--filters=8"],
        # One batch shape, 2, for 4 validation and 10 test images: one XLA compilation.
        "fast": [f"--arch={arch_file}", *init, "--filters=4", "--batch_size=2",
                 "--train_examples=16", "--mixed_precision=mixed_bfloat16", "--jit_compile",
                 "--recipe=short", "--label_smoothing=0.05", "--bn_momentum=0.95",
                 f"--out={tmp_path / 'fast'}"]}
    results = run_mains("train.py", *runs.values())
    return {name: (result, tmp_path / name) for name, result in zip(runs, results)}


@pytest.mark.slow
def test_cli_init_with_zero_epochs_evaluates_a_grown_child_as_its_parent(trained_by_cli,
                                                                         init_runs):
    # A grown network computes its parent's function: evaluated without training, it classifies
    # every validation and test image as the parent does.
    out, parent, *_ = trained_by_cli
    result, child = init_runs["child"]
    assert result.returncode == 0, result.stderr
    assert "computes the parent's function" in result.stdout
    report = json.loads((child / "result.json").read_text())
    assert report["epochs"] == 0 and report["init"] == str(out / "model.keras")
    assert report["val_accuracy"] == parent["val_accuracy"]
    assert report["test_accuracy"] == parent["test_accuracy"]


@pytest.mark.slow
def test_cli_init_from_a_parent_of_another_width_is_one_line(init_runs):
    result, _ = init_runs["width"]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: --init=") and "width" in last and "filters" in last


@pytest.mark.slow
def test_cli_recipe_and_fast_path_flags_reach_the_training(trained_by_cli, init_runs):
    # A float32 parent evaluated as a bfloat16 child, its steps compiled with XLA; the short
    # recipe with two of its values overridden.
    _, before, *_ = trained_by_cli
    assert (before["config"]["recipe"], before["config"]["bn_momentum"]) == ("paper", 0.9)
    result, fast = init_runs["fast"]
    assert result.returncode == 0, result.stderr
    report = json.loads((fast / "result.json").read_text())
    assert report["config"]["mixed_precision"] == "mixed_bfloat16"
    assert report["config"]["jit_compile"] is True
    assert {name: report["config"][name] for name in (
        "recipe", "batch_size", "learning_rate", "nesterov", "label_smoothing",
        "bn_momentum")} == {"recipe": "short", "batch_size": 2, "learning_rate": 0.2,
                            "nesterov": True, "label_smoothing": 0.05, "bn_momentum": 0.95}
    assert report["status"] == "ok" and 0 <= report["val_accuracy"] <= 1
    model, _ = train.load_model(str(fast / "model.keras"))
    assert model.get_layer("stem").layers[0].compute_dtype == "bfloat16"
    assert model.get_layer("stem").layers[1].momentum == 0.95  # the child is built anew


@pytest.mark.slow
def test_cli_errors_name_the_problem(trained_by_cli):
    *_, errors = trained_by_cli
    for result, (args, message, *rule) in errors:
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        last_line = result.stderr.strip().splitlines()[-1]
        assert last_line.startswith("train.py: ") and message in last_line, result.stderr
        assert all(r in last_line for r in rule), result.stderr
