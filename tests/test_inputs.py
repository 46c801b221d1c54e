"""inputs.py: data splits (npz, folders of images and tfds under mock data), the final
network's training + validation data, normalization, augmentation and the cache of in-memory
data sets."""
import dataclasses

import numpy as np
import pipelines
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import inputs
import recipes
from conftest import images_and_labels, write_image, write_npz

# The pipelines read the recipe's batch size, seed, padding and cutout.
TINY = recipes.TrainConfig(epochs=1, batch_size=8, filters=4, verbose=0)


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
    assert data.in_memory  # read into arrays: its pipelines cache
    image, label = next(iter(data.train))
    assert image.shape == (32, 32, 3) and image.dtype == tf.uint8 and label.dtype == tf.int64
    assert len(images_and_labels(data.test)[0]) == 20


def test_imagenet_through_tfds_mock_data(tmp_path):
    # Mock images have arbitrary sizes: resized to a shorter side of 256, then cropped to 224.
    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        data = inputs.load_data("imagenet2012", data_dir=str(tmp_path))
        assert data.input_shape == (224, 224, 3) and data.num_classes == 1000
        assert not data.in_memory  # streamed from disk: never cached
        for image, label in data.train.take(2):
            assert min(image.shape[:2]) == 256 and image.dtype == tf.uint8
        for image, _ in data.test.take(2):
            assert image.shape == (224, 224, 3) and image.dtype == tf.uint8
        config = dataclasses.replace(TINY, batch_size=2)
        images, labels = next(iter(pipelines.train_pipeline(data, config)))
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
    (dict(dataset="cifar100"), "unknown dataset 'cifar100': expected cifar10, imagenet2012, "
                               "tfds:NAME, npz:PATH or folder:PATH"),
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


# ---------------------------------------------------------------------------------------------
# folder:PATH
# ---------------------------------------------------------------------------------------------

CLASSES = ("cat", "dog", "owl")


def write_folder(root, per_class=10, size=(8, 8), channels=3, classes=CLASSES):
    """`per_class` PNGs in each class folder of `root`; image i of class c is the constant
    10 * c + i, so that its pixels name its class and file. Returns {pixel value: label}."""
    values = {}
    for label, name in enumerate(classes):
        for i in range(per_class):
            value = 10 * label + i
            write_image(root / name / f"{i}.png", np.full((*size, channels), value, np.uint8))
            values[value] = label
    return values


def labelled_values(split):
    """(pixel value, label) of each image of a split of constant images."""
    images, labels = images_and_labels(split)
    return [(int(x.flat[0]), int(y)) for x, y in zip(images, labels)]


def test_folder_class_folders_become_labels_and_a_seeded_test_split_is_held_out(tmp_path):
    values = write_folder(tmp_path)
    lines = []
    data = inputs.load_data(f"folder:{tmp_path}", val_fraction=0.25, log=lines.append)
    assert lines == [f"folder:{tmp_path}: no test/ subfolder, so 6 of its 30 images (20%, seed 0) "
                     f"are held out as the test split"]
    assert (data.num_train, data.num_val, data.num_test) == (18, 6, 6)
    assert data.class_names == CLASSES and data.num_classes == 3
    assert data.input_shape == (8, 8, 3) and data.in_memory
    seen = [pair for split in (data.train, data.val, data.test) for pair in labelled_values(split)]
    assert sorted(seen) == sorted(values.items())  # every image once, with its class's label
    # The held-out test images do not move with the seed; the validation images do.
    other = inputs.load_data(f"folder:{tmp_path}", val_fraction=0.25, seed=1, log=lines.append)
    assert labelled_values(other.test) == labelled_values(data.test)
    assert labelled_values(other.val) != labelled_values(data.val)


def test_folder_test_subfolder_is_the_test_split(tmp_path):
    write_folder(tmp_path)
    test_values = write_folder(tmp_path / "test", per_class=2, classes=CLASSES[:2])
    lines = []
    data = inputs.load_data(f"folder:{tmp_path}", val_fraction=0.2, log=lines.append)
    assert lines == [] and data.class_names == CLASSES  # test is not a class
    assert (data.num_train, data.num_val, data.num_test) == (24, 6, 4)
    assert labelled_values(data.test) == sorted(test_values.items())


def test_folder_of_grayscale_images_keeps_one_channel(tmp_path):
    write_folder(tmp_path, per_class=4, channels=1, classes=CLASSES[:2])
    data = inputs.load_data(f"folder:{tmp_path}", log=lambda line: None)
    assert data.input_shape == (8, 8, 1) and data.mean.shape == data.std.shape == (1,)
    images, _ = next(iter(pipelines.train_pipeline(data, dataclasses.replace(TINY, batch_size=4))))
    assert images.shape == (4, 8, 8, 1)


def test_folder_of_gray_and_colour_images_is_colour(tmp_path):
    write_folder(tmp_path, per_class=2, classes=CLASSES[:2])
    write_image(tmp_path / "dog" / "gray.png", np.full((8, 8, 1), 7, np.uint8))
    data = inputs.load_data(f"folder:{tmp_path}", log=lambda line: None)
    assert data.input_shape == (8, 8, 3)


def test_folder_input_size_resizes_the_images_of_another_size(tmp_path):
    write_folder(tmp_path, per_class=3)
    write_image(tmp_path / "dog" / "big.png", np.full((12, 10, 3), 200, np.uint8))
    write_image(tmp_path / "test" / "cat" / "0.png", np.full((4, 4, 3), 100, np.uint8))
    lines = []
    data = inputs.load_data(f"folder:{tmp_path}", input_size=8, log=lines.append)
    assert lines == [f"folder:{tmp_path}: 2 of 11 images resized to 8x8"]
    assert data.input_shape == (8, 8, 3)
    images, _ = images_and_labels(data.test)
    np.testing.assert_array_equal(images, np.full((1, 8, 8, 3), 100, np.uint8))
    wide = inputs.load_data(f"folder:{tmp_path}", input_size=(6, 9), log=lines.append)
    assert wide.input_shape == (6, 9, 3)
    # The size is in the name, which a search records: resumed at another size, it refuses.
    assert (data.name, wide.name) == (f"folder:{tmp_path}@8x8", f"folder:{tmp_path}@6x9")


def nothing(root):
    root.mkdir()


def one_class(root):
    write_folder(root, per_class=3, classes=("cat",))


def empty_class(root):
    write_folder(root, per_class=3, classes=("cat",))
    (root / "dog").mkdir()


def text_file(root):
    write_folder(root, per_class=3, classes=("cat", "dog"))
    (root / "dog" / "notes.txt").write_text("not an image")


def broken_png(root):
    write_folder(root, per_class=3, classes=("cat", "dog"))
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG but not really")


def mixed_sizes(root):
    write_folder(root, per_class=3, classes=("cat",))
    write_image(root / "dog" / "0.png", np.zeros((6, 5, 3), np.uint8))


def unknown_test_class(root):
    write_folder(root, per_class=3, classes=("cat", "dog"))
    write_folder(root / "test", per_class=1, classes=("cow",))


BAD_FOLDERS = [
    (nothing, "no class folders (expected one subfolder of JPEG/PNG images per class)"),
    (one_class, "one class folder (cat), need at least 2"),
    (empty_class, "class folder dog has no images"),
    (text_file, "dog/notes.txt is not a JPEG or PNG image"),
    (broken_png, "dog/broken.png is not a JPEG or PNG image"),
    (mixed_sizes, "images differ in size (8x8 cat/0.png, 6x5 dog/0.png); give an input size "
                  "(--input_size) to resize them"),
    (unknown_test_class, "test/cow is not one of the class folders (cat, dog)"),
]


@pytest.mark.parametrize("make, message", BAD_FOLDERS, ids=[make.__name__ for make, _ in
                                                            BAD_FOLDERS])
def test_bad_folder_is_one_line_naming_the_folder_and_the_rule(tmp_path, make, message):
    root = tmp_path / "images"
    make(root)
    with pytest.raises(ValueError) as error:
        inputs.load_data(f"folder:{root}")
    assert str(error.value) == f"folder:{root}: {message}"


def test_folder_that_does_not_exist(tmp_path):
    with pytest.raises(ValueError) as error:
        inputs.load_data(f"folder:{tmp_path}/nowhere")
    assert str(error.value) == f"folder:{tmp_path}/nowhere: no such folder"


# ---------------------------------------------------------------------------------------------
# tfds:NAME
# ---------------------------------------------------------------------------------------------

def mock_tfds(dataset, num_examples=20, **kwargs):
    with tfds.testing.mock_data(num_examples=num_examples,
                                policy=tfds.testing.MockPolicy.USE_CODE):
        return inputs.load_data(dataset, **kwargs)


def test_tfds_grayscale_set_keeps_one_channel():
    data = mock_tfds("tfds:fashion_mnist", val_fraction=0.25, train_examples=12)
    assert (data.num_train, data.num_val, data.num_test) == (12, 5, 20)
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    assert data.class_names[:2] == ("T-shirt/top", "Trouser") and data.in_memory
    assert data.mean.shape == (1,) and data.name == "tfds:fashion_mnist"
    image, label = next(iter(data.train))
    assert image.shape == (28, 28, 1) and image.dtype == tf.uint8 and label.dtype == tf.int64
    images, _ = next(iter(pipelines.train_pipeline(data, TINY)))
    assert images.shape == (8, 28, 28, 1)


def test_tfds_colour_set_and_its_many_classes():
    lines = []
    data = mock_tfds("tfds:cifar100", val_fraction=0.25, log=lines.append)
    assert (data.num_train, data.num_val, data.num_test) == (15, 5, 20)
    assert data.input_shape == (32, 32, 3) and data.num_classes == len(data.class_names) == 100
    assert lines == []
    small = mock_tfds("tfds:cifar100", input_size=16, log=lines.append)
    assert small.input_shape == (16, 16, 3)
    assert next(iter(small.test))[0].shape == (16, 16, 3)
    assert lines == ["tfds:cifar100: images of 32x32 resized to 16x16"]


def test_tfds_set_of_varying_image_sizes_needs_an_input_size():
    with pytest.raises(ValueError) as error:
        mock_tfds("tfds:tf_flowers", num_examples=4)
    assert str(error.value) == ("tfds:tf_flowers: images differ in size ((None, None, 3)); give "
                                "an input size (--input_size) to resize them")
    data = mock_tfds("tfds:tf_flowers", num_examples=4, input_size=24, log=lambda line: None)
    assert data.input_shape == (24, 24, 3) and data.num_classes == 5


def test_tfds_set_without_image_and_label_features_is_refused():
    with pytest.raises(ValueError) as error:
        mock_tfds("tfds:imdb_reviews")
    assert str(error.value) == ("tfds:imdb_reviews: needs an 'image' feature (Image) and a "
                                "'label' feature (ClassLabel), has label (ClassLabel), text (Text)")


@pytest.mark.parametrize("dataset, input_size, message", [
    ("tfds:", None, "tfds: needs a tensorflow-datasets name, as in tfds:cifar100"),
    ("folder:", None, "folder: needs a path, as in folder:data/flowers"),
    ("cifar10", 0, "input_size must be a positive int or (height, width), got 0"),
    ("cifar10", 64.0, "input_size must be a positive int or (height, width), got 64.0"),
    ("cifar10", (32, 32, 3), "input_size must be a positive int or (height, width), got "
                             "(32, 32, 3)"),
    ("imagenet2012", 64, "imagenet2012: takes no input size (Section 4.1: shorter side 256, "
                         "crops of 224), got 64"),
])
def test_bad_dataset_name_or_input_size(dataset, input_size, message):
    with pytest.raises(ValueError) as error:
        inputs.load_data(dataset, input_size=input_size)
    assert str(error.value) == message


def test_npz_input_size_resizes_every_split(npz):
    lines = []
    data = inputs.load_data(f"npz:{npz[0]}", input_size=16, log=lines.append)
    assert data.input_shape == (16, 16, 3) and data.class_names == ()
    assert images_and_labels(data.test)[0].shape == (10, 16, 16, 3)
    assert lines == [f"npz:{npz[0]}: images of 32x32 resized to 16x16"]
    same = inputs.load_data(f"npz:{npz[0]}", input_size=32, log=lines.append)
    np.testing.assert_array_equal(images_and_labels(same.test)[0], npz[1]["x_test"])
    assert len(lines) == 1  # nothing resized, nothing said


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------

def test_validation_and_test_batches_are_exactly_normalized_originals(tiny_data):
    for split in (tiny_data.val, tiny_data.test):
        originals, labels = images_and_labels(split)
        batches = list(pipelines.eval_pipeline(tiny_data, split, 4).as_numpy_iterator())
        images = np.concatenate([x for x, _ in batches])
        expected = (originals.astype(np.float32) - tiny_data.mean) / tiny_data.std
        np.testing.assert_allclose(images, expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)


def test_train_pipeline_augments_and_reshuffles(tiny_data):
    config = dataclasses.replace(TINY, batch_size=tiny_data.num_train)
    pipeline = pipelines.train_pipeline(tiny_data, config)
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
    again, _ = next(iter(pipelines.train_pipeline(tiny_data, config)))
    np.testing.assert_array_equal(first.numpy(), again.numpy())  # same seed, same batches


@pytest.mark.parametrize("batch_size, sizes", [(10, [10, 10]), (8, [8, 8, 8]), (100, [24])])
def test_train_pipeline_drops_a_last_partial_batch(tiny_data, batch_size, sizes):
    pipeline = pipelines.train_pipeline(tiny_data, dataclasses.replace(TINY, batch_size=batch_size))
    assert [len(labels) for _, labels in pipeline] == sizes
    assert pipelines.steps_per_epoch(tiny_data.num_train, batch_size) == len(sizes)


def augmented(image, pad=0, cutout=0, seeds=range(40)):
    return [pipelines.augment(image, tf.constant([s, 7], tf.int64), image.shape[:2], pad,
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
    out = pipelines.cutout(image, 16, (16, 16)).numpy()
    hole = out[..., 0] == 0
    assert hole.sum() == 256 and (out[..., 0] == out[..., 2]).all()
    assert hole[8:24, 8:24].all()  # rows and columns 8..23: centre - 8 to centre + 7


def test_cutout_hole_is_clipped_at_the_border():
    out = pipelines.cutout(tf.ones((32, 32, 3)), 16, (0, 0)).numpy()
    assert (out[..., 0] == 0).sum() == 64 and (out[:8, :8] == 0).all()
    out = pipelines.cutout(tf.ones((32, 32, 3)), 16, (31, 20)).numpy()
    assert (out[..., 0] == 0).sum() == 9 * 16


def test_random_cutout_makes_one_hole_of_at_most_16x16():
    sizes = [(out[..., 0] == 0).sum() for out in augmented(tf.ones((32, 32, 3)), cutout=16)]
    assert all(64 <= s <= 256 for s in sizes)  # a corner centre leaves a quarter
    assert sizes.count(256) >= 5 and len(set(sizes)) > 3


def test_with_validation_gives_the_validation_images_back_to_training(npz):
    data = inputs.load_data(f"npz:{npz[0]}", val_fraction=0.25, train_examples=24)
    final = inputs.with_validation(data)
    assert (final.num_train, final.num_val, final.num_test) == (24 + 10, 0, 10)
    train_x, _ = images_and_labels(final.train)
    expected = np.concatenate([images_and_labels(data.train)[0], images_and_labels(data.val)[0]])
    np.testing.assert_array_equal(train_x, expected)
    assert final.val.cardinality() == 0
    np.testing.assert_array_equal(images_and_labels(final.test)[0],
                                  images_and_labels(data.test)[0])
    np.testing.assert_array_equal(final.mean, data.mean)  # the training split's statistics


# ---------------------------------------------------------------------------------------------
# Cache of in-memory data sets
# ---------------------------------------------------------------------------------------------

def counting_normalizations(monkeypatch):
    """Make pipelines.normalize count the images it normalizes; returns the counter (a variable,
    as the pipelines run it in tf.data's threads)."""
    count = tf.Variable(0, dtype=tf.int64)
    original = pipelines.normalize

    def normalize(image, mean, std):
        with tf.control_dependencies([count.assign_add(1)]):
            return original(image, mean, std)

    monkeypatch.setattr(pipelines, "normalize", normalize)
    return count


def test_in_memory_images_are_normalized_once_not_every_epoch(tiny_data, monkeypatch):
    count = counting_normalizations(monkeypatch)
    streamed = dataclasses.replace(tiny_data, in_memory=False)
    for data, per_pass in [(tiny_data, 0), (streamed, 1)]:
        count.assign(0)
        pipeline = pipelines.train_pipeline(data, TINY)
        for _ in range(3):  # epochs
            list(pipeline)
        assert count.numpy() == (1 + 2 * per_pass) * data.num_train
        count.assign(0)
        pipeline = pipelines.eval_pipeline(data, data.val, 4)
        for _ in range(2):
            list(pipeline)
        assert count.numpy() == (1 + per_pass) * data.num_val


def test_cached_pipelines_give_the_batches_of_uncached_ones(tiny_data):
    streamed = dataclasses.replace(tiny_data, in_memory=False)
    cached, uncached = (pipelines.train_pipeline(data, TINY) for data in (tiny_data, streamed))
    for _ in range(2):  # the second epoch reads the cache, augmented anew
        for (x, y), (x0, y0) in zip(cached, uncached, strict=True):
            np.testing.assert_array_equal(x.numpy(), x0.numpy())
            np.testing.assert_array_equal(y.numpy(), y0.numpy())
    cached, uncached = (pipelines.eval_pipeline(data, data.test, 4)
                        for data in (tiny_data, streamed))
    for _ in range(2):
        for (x, y), (x0, y0) in zip(cached, uncached, strict=True):
            np.testing.assert_array_equal(x.numpy(), x0.numpy())
            np.testing.assert_array_equal(y.numpy(), y0.numpy())
