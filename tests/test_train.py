"""train.py: data splits (npz and tfds under mock data), augmentation, training, failures, CLI."""
import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import cells
import grow_trim
import inputs
import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Tiny and quick: 1 epoch of a round-0 network at w = 4 on a few dozen 32x32 images.
TINY = train.TrainConfig(epochs=1, batch_size=8, filters=4, verbose=0)


def write_npz(path, num_train=40, num_test=10, size=32, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    arrays = dict(x_train=rng.integers(0, 256, (num_train, size, size, 3), dtype=np.uint8),
                  y_train=rng.integers(0, 10, num_train),
                  x_test=rng.integers(0, 256, (num_test, size, size, 3), dtype=np.uint8),
                  y_test=rng.integers(0, 10, num_test))
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def images_and_labels(split):
    batches = list(split.batch(1000).as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    return path, write_npz(path)


@pytest.fixture(scope="module")
def tiny_data(npz):
    return inputs.load_data(f"npz:{npz[0]}", val_fraction=0.25, train_examples=24)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def test_npz_splits_carve_validation_out_of_training(npz):
    path, arrays = npz
    data = inputs.load_data(f"npz:{path}", val_fraction=0.25, seed=3)
    assert (data.num_train, data.num_val, data.num_test) == (30, 10, 10)
    assert data.input_shape == (32, 32, 3) and data.num_classes == 10
    x_train, y_train = images_and_labels(data.train)
    x_val, y_val = images_and_labels(data.val)
    x_test, _ = images_and_labels(data.test)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert (len(x_train), len(x_val), len(x_test)) == (30, 10, 10)
    # Every train and val image is a distinct original training image; test is untouched.
    rows = {x.tobytes(): i for i, x in enumerate(arrays["x_train"])}
    train_rows = [rows[x.tobytes()] for x in x_train]
    val_rows = [rows[x.tobytes()] for x in x_val]
    assert sorted(train_rows + val_rows) == list(range(40))
    assert list(y_val) == list(arrays["y_train"][val_rows])
    np.testing.assert_array_equal(x_test, arrays["x_test"])
    # Statistics of the training split only.
    np.testing.assert_allclose(data.mean, x_train.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(data.std, x_train.std(axis=(0, 1, 2)), rtol=1e-4)
    assert data.mean.dtype == data.std.dtype == np.float32 and data.mean.shape == (3,)


def test_train_examples_subsets_training_and_keeps_validation(npz):
    path, _ = npz
    full = inputs.load_data(f"npz:{path}", val_fraction=0.25, seed=3)
    subset = inputs.load_data(f"npz:{path}", val_fraction=0.25, train_examples=7, seed=3)
    assert (subset.num_train, subset.num_val) == (7, 10)
    np.testing.assert_array_equal(images_and_labels(subset.val)[0],
                                  images_and_labels(full.val)[0])
    full_rows = {x.tobytes() for x in images_and_labels(full.train)[0]}
    assert {x.tobytes() for x in images_and_labels(subset.train)[0]} <= full_rows
    more = inputs.load_data(f"npz:{path}", val_fraction=0.25, train_examples=1000)
    assert more.num_train == 30  # all there are
    other_seed = inputs.load_data(f"npz:{path}", val_fraction=0.25, seed=4)
    assert not np.array_equal(images_and_labels(other_seed.val)[0],
                              images_and_labels(full.val)[0])


def test_tiny_validation_fraction_keeps_one_example(npz):
    data = inputs.load_data(f"npz:{npz[0]}", val_fraction=0.001)
    assert (data.num_train, data.num_val) == (39, 1)


def test_cifar10_through_tfds_mock_data():
    # Under the mock, every split has num_examples random examples and info.splits is empty.
    with tfds.testing.mock_data(num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE):
        data = inputs.load_data("cifar10", val_fraction=0.25, train_examples=12)
    assert (data.num_train, data.num_val, data.num_test) == (12, 5, 20)
    assert data.input_shape == (32, 32, 3) and data.num_classes == 10
    image, label = next(iter(data.train))
    assert image.shape == (32, 32, 3) and image.dtype == tf.uint8 and label.dtype == tf.int64
    assert len(images_and_labels(data.test)[0]) == 20


def test_imagenet_through_tfds_mock_data(tmp_path):
    # Mock images have arbitrary sizes: resized to a shorter side of 256, then cropped to 224.
    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        data = inputs.load_data("imagenet2012", data_dir=str(tmp_path))
        assert data.input_shape == (224, 224, 3) and data.num_classes == 1000
        for image, label in data.train.take(2):
            assert min(image.shape[:2]) == 256 and image.dtype == tf.uint8
        for image, _ in data.test.take(2):
            assert image.shape == (224, 224, 3) and image.dtype == tf.uint8
        config = dataclasses.replace(TINY, batch_size=2)
        images, labels = next(iter(inputs.train_pipeline(data, config)))
    assert images.shape == (2, 224, 224, 3) and images.dtype == tf.float32
    assert labels.dtype == tf.int64


def test_cifar10_without_internet_says_to_pass_an_npz(monkeypatch):
    def offline(name, data_dir=None):
        raise ConnectionError("Failed to resolve 'www.cs.toronto.edu'\nmore lines")

    monkeypatch.setattr(tfds, "builder", offline)
    with pytest.raises(ValueError, match=r"^cifar10: tensorflow-datasets could not prepare it "
                                         r"\(Failed to resolve 'www.cs.toronto.edu'\); without "
                                         r"internet use --dataset=npz:PATH$"):
        inputs.load_data("cifar10")


def test_imagenet_without_its_manual_download_says_so(tmp_path):
    with pytest.raises(ValueError, match="imagenet2012 needs its manual download"):
        inputs.load_data("imagenet2012", data_dir=str(tmp_path))


BAD_NPZ = [
    (dict(x_test=None, y_test=None), "missing arrays x_test, y_test"),
    (dict(x_train=np.zeros((40, 32, 32, 3), np.float32)), "x_train has dtype float32"),
    (dict(x_test=np.zeros((10, 32, 32), np.uint8)), r"x_test has shape \(10, 32, 32\)"),
    (dict(y_train=np.zeros(39, np.int64)), "y_train has 39 labels for 40 images"),
    (dict(y_test=np.zeros(10, np.float32)), "y_test has dtype float32"),
    (dict(y_train=np.full(40, -1)), "y_train has a negative label"),
    (dict(x_test=np.zeros((10, 28, 28, 3), np.uint8)), "x_test images are"),
]


@pytest.mark.parametrize("overrides, message", BAD_NPZ)
def test_bad_npz_names_the_array(tmp_path, overrides, message):
    path = tmp_path / "bad.npz"
    write_npz(path, **overrides)
    with pytest.raises(ValueError, match=message):
        inputs.load_data(f"npz:{path}")


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset="cifar100"), "unknown dataset 'cifar100': expected cifar10, imagenet2012 or "
                               "npz:PATH"),
    (dict(dataset="npz:/no/such/file.npz"), "npz:/no/such/file.npz: no such file"),
    (dict(dataset="npz:"), "npz: needs a path"),
    (dict(dataset="cifar10", val_fraction=0.0), r"val_fraction must be in \(0, 1\), got 0.0"),
    (dict(dataset="cifar10", val_fraction=1.0), r"val_fraction must be in \(0, 1\), got 1.0"),
    (dict(dataset="cifar10", train_examples=0), "train_examples must be at least 1, got 0"),
])
def test_bad_load_data_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        inputs.load_data(**kwargs)


@pytest.mark.parametrize("write", [
    lambda path: path.write_text("not a zip"),
    lambda path: np.save(open(path, "wb"), np.zeros(3)),  # a lone .npy array
    lambda path: np.savez(path, x_train=np.array([None] * 3), y_train=np.zeros(3),
                          x_test=np.zeros(3), y_test=np.zeros(3)),  # pickled objects
])
def test_not_an_npz_file(tmp_path, write):
    path = tmp_path / "junk.npz"
    write(path)
    with pytest.raises(ValueError, match=f"npz:{path}: not a readable .npz file"):
        inputs.load_data(f"npz:{path}")


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
])
def test_bad_train_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**kwargs)


def test_paper_defaults():
    config = train.TrainConfig()
    assert (config.epochs, config.batch_size, config.learning_rate, config.momentum) == \
        (60, 128, 0.01, 0.9)
    assert (config.pad, config.cutout, config.filters) == (4, 16, 64)
    # SGDR cycles of 4, 8, 16 and 32 epochs end exactly at epoch 60.
    assert sum(config.sgdr_first_epochs * config.sgdr_t_mul ** i for i in range(4)) == 60


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------

def test_validation_and_test_batches_are_exactly_normalized_originals(tiny_data):
    for split in (tiny_data.val, tiny_data.test):
        originals, labels = images_and_labels(split)
        batches = list(inputs.eval_pipeline(tiny_data, split, 4).as_numpy_iterator())
        images = np.concatenate([x for x, _ in batches])
        expected = (originals.astype(np.float32) - tiny_data.mean) / tiny_data.std
        np.testing.assert_allclose(images, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)


def test_train_pipeline_augments_and_reshuffles(tiny_data):
    config = dataclasses.replace(TINY, batch_size=tiny_data.num_train)
    pipeline = inputs.train_pipeline(tiny_data, config)
    first, labels = next(iter(pipeline))
    second, _ = next(iter(pipeline))  # the next epoch: new order and new augmentation
    assert first.shape == (24, 32, 32, 3) and first.dtype == tf.float32
    assert labels.dtype == tf.int64
    originals, _ = images_and_labels(tiny_data.train)
    normalized = {((x - tiny_data.mean) / tiny_data.std).astype(np.float32).tobytes()
                  for x in originals.astype(np.float32)}
    unchanged = sum(x.tobytes() in normalized for x in first.numpy())
    assert unchanged == 0  # every training image gets a cutout hole at least
    assert not np.array_equal(first.numpy(), second.numpy())
    again, _ = next(iter(inputs.train_pipeline(tiny_data, config)))
    np.testing.assert_array_equal(first.numpy(), again.numpy())  # same seed, same batches


@pytest.mark.parametrize("batch_size, sizes", [(10, [10, 10]), (8, [8, 8, 8]), (100, [24])])
def test_train_pipeline_drops_a_last_partial_batch(tiny_data, batch_size, sizes):
    pipeline = inputs.train_pipeline(tiny_data, dataclasses.replace(TINY, batch_size=batch_size))
    assert [len(labels) for _, labels in pipeline] == sizes
    assert inputs.steps_per_epoch(tiny_data.num_train, batch_size) == len(sizes)


def augmented(image, pad=0, cutout=0, seeds=range(40)):
    return [inputs.augment(image, tf.constant([s, 7], tf.int64), image.shape[:2], pad,
                          cutout).numpy() for s in seeds]


def test_random_crop_is_a_window_of_the_padded_image():
    image = tf.random.stateless_uniform((32, 32, 3), (1, 2)) + 1.0  # no zeros of its own
    padded = np.pad(image.numpy(), ((4, 4), (4, 4), (0, 0)))
    offsets = set()
    for out in augmented(image, pad=4):
        assert out.shape == (32, 32, 3)
        if not any(np.array_equal(out, padded[dy:dy + 32, dx:dx + 32]) for dy in range(9)
                   for dx in range(9)):
            out = out[:, ::-1]  # flipped after cropping
        matches = [(dy, dx) for dy in range(9) for dx in range(9)
                   if np.array_equal(out, padded[dy:dy + 32, dx:dx + 32])]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 10


def test_random_flip_flips_about_half():
    image = tf.random.stateless_uniform((32, 32, 3), (3, 4))
    outs = augmented(image)
    flipped = sum(np.array_equal(out, image.numpy()[:, ::-1]) for out in outs)
    kept = sum(np.array_equal(out, image.numpy()) for out in outs)
    assert flipped + kept == len(outs) and 10 <= flipped <= 30


def test_cutout_hole_is_16x16_inside_the_image():
    image = tf.ones((32, 32, 3))
    out = inputs.cutout(image, 16, (16, 16)).numpy()
    hole = out[..., 0] == 0
    assert hole.sum() == 256 and (out[..., 0] == out[..., 2]).all()
    assert hole[8:24, 8:24].all()  # rows and columns 8..23: centre - 8 to centre + 7


def test_cutout_hole_is_clipped_at_the_border():
    out = inputs.cutout(tf.ones((32, 32, 3)), 16, (0, 0)).numpy()
    assert (out[..., 0] == 0).sum() == 64 and (out[:8, :8] == 0).all()
    out = inputs.cutout(tf.ones((32, 32, 3)), 16, (31, 20)).numpy()
    assert (out[..., 0] == 0).sum() == 9 * 16


def test_random_cutout_makes_one_hole_of_at_most_16x16():
    sizes = [(out[..., 0] == 0).sum() for out in augmented(tf.ones((32, 32, 3)), cutout=16)]
    assert all(64 <= s <= 256 for s in sizes)  # a corner centre leaves a quarter
    assert sizes.count(256) >= 5 and len(set(sizes)) > 3


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
    val = model.evaluate(inputs.eval_pipeline(tiny_data, tiny_data.val, 8), verbose=0,
                         return_dict=True)
    assert val["accuracy"] == pytest.approx(result.val_accuracy)


def test_same_seed_same_network(trained, tiny_data, tmp_path):
    path = tmp_path / "again.keras"
    result = train.train(cells.ROUND0[0], tiny_data, TINY, model_path=path)
    assert result.status == "ok" and result.test_accuracy is None  # test only when asked
    assert result.val_accuracy == trained[0].val_accuracy
    images = next(iter(inputs.eval_pipeline(tiny_data, tiny_data.val, 8)))[0]
    first = keras.models.load_model(trained[1]).predict(images, verbose=0)
    second = keras.models.load_model(path).predict(images, verbose=0)
    np.testing.assert_array_equal(first, second)


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


def test_model_path_must_be_keras_format(tiny_data):
    with pytest.raises(ValueError, match="model_path must end in .keras"):
        train.train(cells.ROUND0[0], tiny_data, TINY, model_path="model.h5")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def _run(*args):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def trained_by_cli(npz, tmp_path_factory):
    """(out dir, its result.json) of `train.py` on a round-0 network, and the arch file."""
    tmp_path = tmp_path_factory.mktemp("cli")
    arch_file = tmp_path / "arch.json"
    cells.save(cells.ROUND0[8], arch_file)
    out = tmp_path / "out"
    result = _run(f"--arch={arch_file}", f"--dataset=npz:{npz[0]}", "--epochs=1", "--filters=4",
                  "--batch_size=8", "--train_examples=16", "--verbose=0", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert "validation accuracy: " in result.stdout and "test accuracy: " in result.stdout
    return out, json.loads((out / "result.json").read_text()), arch_file


def test_cli_trains_and_writes_result_model_and_architecture(trained_by_cli):
    out, report, arch_file = trained_by_cli
    assert report["status"] == "ok" and report["epochs"] == 1
    assert (report["num_train"], report["num_val"], report["num_test"]) == (16, 4, 10)
    assert 0 <= report["val_accuracy"] <= 1 and 0 <= report["test_accuracy"] <= 1
    assert report["config"]["filters"] == 4 and report["config"]["learning_rate"] == 0.01
    assert len(report["mean"]) == 3 and report["arch"] == str(arch_file)
    model, arch = train.load_model(str(out / "model.keras"))
    assert arch == cells.ROUND0[8] and model.count_params() > 0


def test_cli_init_with_zero_epochs_evaluates_a_grown_child_as_its_parent(npz, trained_by_cli,
                                                                         tmp_path):
    # A grown network computes its parent's function: evaluated without training, it classifies
    # every validation and test image as the parent does.
    out, parent, _ = trained_by_cli
    child = grow_trim.grow(cells.canonical(cells.ROUND0[8]))[0][0]
    child_file = tmp_path / "child.json"
    cells.save(child, child_file)
    result = _run(f"--arch={child_file}", f"--init={out / 'model.keras'}", "--epochs=0",
                  f"--dataset=npz:{npz[0]}", "--filters=4", "--batch_size=8",
                  "--train_examples=16", f"--out={tmp_path / 'child'}")
    assert result.returncode == 0, result.stderr
    assert "computes the parent's function" in result.stdout
    report = json.loads((tmp_path / "child" / "result.json").read_text())
    assert report["epochs"] == 0 and report["init"] == str(out / "model.keras")
    assert report["val_accuracy"] == parent["val_accuracy"]
    assert report["test_accuracy"] == parent["test_accuracy"]


def test_cli_init_from_a_parent_of_another_width_is_one_line(npz, trained_by_cli, tmp_path):
    out, _, arch_file = trained_by_cli
    result = _run(f"--arch={arch_file}", f"--init={out / 'model.keras'}", "--epochs=0",
                  f"--dataset=npz:{npz[0]}", "--filters=8")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: --init=") and "width" in last and "filters" in last


@pytest.mark.parametrize("args, message", [
    (["--dataset=npz:x.npz"], "--arch is required"),
    (["--arch=examples/figure1b.json", "--dataset=mnist"], "unknown dataset 'mnist'"),
    (["--arch=examples/figure1b.json", "--epochs=0"], "--epochs=0 only evaluates, and needs "
                                                      "--init"),
    (["--arch=examples/figure1b.json", "--epochs=-1", "--dataset=npz:x.npz"],
     "epochs must be at least 0"),
    (["--arch=examples/figure1b.json", "--init=nowhere/model.keras", "--epochs=0"],
     "nowhere/model.keras: no such model file"),
])
def test_cli_errors_name_the_problem(args, message):
    result = _run(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("train.py: ") and message in last_line


@pytest.mark.parametrize("content, rule", [
    ('{"blocks": []}', "block count"),
    (b'{"blocks": "\xe9"}', "not UTF-8 text"),
    # Every layer of block 2 removed: the file parses, but the block prunes to nothing.
    (json.dumps({"blocks": [{"cells": [{"inputs": [0, 0] if b != 1 else [None, None],
                                         "ops": ["conv3x3", "conv3x3"], "combine": "sum",
                                         "output": True}]} for b in range(5)]}), "block 2"),
])
def test_cli_bad_architecture_file_is_refused_before_the_data_is_read(tmp_path, content, rule):
    arch_file = tmp_path / "bad.json"
    if isinstance(content, bytes):
        arch_file.write_bytes(content)
    else:
        arch_file.write_text(content)
    # The data set does not exist either: the architecture's error must come first.
    result = _run(f"--arch={arch_file}", "--dataset=npz:missing.npz")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"train.py: {arch_file}: ") and rule in last, result.stderr
