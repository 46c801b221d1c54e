"""Data sets (paper Section 4.1): CIFAR-10, ImageNet, any image classification set of
tensorflow-datasets, an .npz file or a folder of images (image_folders.py), split three ways,
with the per-channel statistics that normalize them (pipelines.py turns the splits into batches).

Decisions the paper leaves open, made here once:

* **Validation split.** Candidates are selected on a validation split carved out of the training
  data (a seeded random `val_fraction` of it); the test split is only for reports (the authors'
  code selected on the test set). `train_examples=N` keeps N training examples *after*
  the validation split is carved, so a quick run trains on less but is still measured on the
  same validation images as a full run with the same seed. `with_validation` gives the
  validation images back to training, for the final network (trained once, tested on test).
* **ImageNet.** Images are resized so that the shorter side is 256; training takes a random
  224x224 crop (after the same padding, flip and cutout), validation and test the central
  224x224 crop (Section 4.1, last paragraph). The validation split is the first `val_fraction`
  of tfds' training order (tfds shuffles examples when it prepares a data set), read by split
  slicing so that no pass over all 1.28M images is needed; the seed does not move it.
* **Data sets by form.** `cifar10` and `tfds:NAME` (any tfds set with an `image` and a `label`
  feature: cifar100, svhn_cropped, fashion_mnist...) are read into memory from tfds, `npz:PATH`
  from four arrays, `folder:PATH` from one subfolder of JPEG/PNG images per class (its `test/`
  subfolder is the test split; without one a fixed-seed `TEST_FRACTION` is held out).
  All four then share one path (`_from_arrays`). Channels follow the images: grayscale sets stay
  one channel, and so do the network's input and its measured memory. `input_size` resizes the
  images of an in-memory set (bilinear, aspect ratio not kept, as Keras' image loader does);
  without it all images must already share one size.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

import guard
import images


DATASET_FORMS = "cifar10, imagenet2012, tfds:NAME, npz:PATH or folder:PATH"
DATASET_HELP = ("cifar10, imagenet2012, tfds:NAME (tensorflow-datasets, downloaded on first use; "
                "NAME: any set with image and label features, e.g. cifar100, svhn_cropped, "
                "fashion_mnist), npz:PATH (x_train, y_train, x_test, y_test uint8 arrays) or "
                "folder:PATH (one subfolder of JPEG/PNG images per class; PATH/test, if there, "
                "the test split).")
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")

# A folder:PATH without a test/ subfolder, or a tfds set without a test split: the share of its
# images held out for testing, drawn with a seed of its own so that searches with different
# --seed test on the same images.
TEST_FRACTION = 0.2
TEST_SEED = 0
INPUT_SIZE_HELP = ("Resize every image to this many pixels square (a folder of images of "
                   "several sizes needs it); default: the images' own size.")

# ImageNet: the usual per-channel constants (in pixel units, like the means computed for the
# other data sets), the resize and the crop of Section 4.1.
IMAGENET_MEAN = 255 * np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = 255 * np.array([0.229, 0.224, 0.225], np.float32)
IMAGENET_RESIZE = 256
IMAGENET_CROP = 224
IMAGENET_SHUFFLE_BUFFER = 10_000  # decoded 256-pixel images: ~2 GB; in-memory sets shuffle fully


@dataclasses.dataclass(frozen=True, eq=False)
class Data:
    """A data set, split three ways; every split is an unbatched `tf.data.Dataset` of
    (uint8 image (H, W, C), int64 label) pairs, C = 3, or 1 for a grayscale set.

    `val` and `test` images have `input_shape`. `train` images have it too, except ImageNet's
    (shorter side 256, cropped to `input_shape` by the augmentation). `mean` and `std` are per
    channel in pixel units (0..255), from the training split (ImageNet: the usual constants);
    `pipelines.train_pipeline` and `pipelines.eval_pipeline` turn the splits into normalized
    batches.
    `in_memory`: the splits are in-memory arrays (npz, folder, tfds sets but ImageNet), which the
    pipelines cache once normalized; False: streamed (ImageNet), never cached.
    `class_names`: label i's name is class_names[i] (tfds' names, the folder's class folders);
    () where the data set names none (npz).
    """
    name: str
    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    input_shape: tuple
    mean: np.ndarray
    std: np.ndarray
    num_train: int
    num_val: int
    num_test: int
    shuffle_buffer: int
    in_memory: bool = False
    class_names: tuple = ()


def load_data(dataset, data_dir=None, val_fraction=0.1, train_examples=None, seed=0,
              input_size=None, log=print):
    """Load `dataset` (one of DATASET_FORMS) and carve out a validation split.

    The validation split is a seeded random `val_fraction` of the training data (at least one
    example, at least one left to train on); `train_examples` then keeps that many of the rest
    (all of them if there are fewer). `input_size` (an int S for S x S, or (height, width))
    resizes every image of another size, in every split; None keeps the images' own size, which
    must then be one size (ImageNet takes none: it has Section 4.1's own); the name of resized
    data says its size (`cifar10@64x64`), so that a search resumed with another size is refused.
    `log` gets one line for each thing decided without being asked (images resized, a test
    split held out). Raises ValueError with a one-line message for bad input.
    """
    size = _size_pair(input_size)
    data = _load(dataset, data_dir, val_fraction, train_examples, seed, input_size, size, log)
    if size is None:
        return data
    return dataclasses.replace(data, name=f"{data.name}@{images.hxw(size)}")


def _load(dataset, data_dir, val_fraction, train_examples, seed, input_size, size, log):
    """`load_data`'s data set, named as given."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if train_examples is not None and train_examples < 1:
        raise ValueError(f"train_examples must be at least 1, got {train_examples}")
    split = (val_fraction, train_examples, seed)
    if dataset.startswith("npz:"):
        x_train, y_train, x_test, y_test = _read_npz(dataset[len("npz:"):])
        if size is not None and x_train.shape[1:3] != size:
            log(f"{dataset}: images of {images.hxw(x_train.shape[1:3])} resized to "
                f"{images.hxw(size)}")
            (x_train, y_train), (x_test, y_test) = (
                _in_memory(tf.data.Dataset.from_tensor_slices(arrays), size)
                for arrays in ((x_train, y_train), (x_test, y_test)))
        num_classes = int(max(y_train.max(), y_test.max())) + 1
        return _from_arrays(dataset, x_train, y_train, x_test, y_test, num_classes, *split)
    if dataset.startswith("folder:"):
        x, y, test_start, names = images.read_folder(dataset[len("folder:"):], size, log)
        if test_start is None:
            x_train, y_train, x_test, y_test = _hold_out_test(dataset, "no test/ subfolder", x,
                                                              y, log)
        else:
            x_train, y_train, x_test, y_test = (x[:test_start], y[:test_start], x[test_start:],
                                                y[test_start:])
        return _from_arrays(dataset, x_train, y_train, x_test, y_test, len(names), *split,
                            class_names=names)
    if dataset in ("imagenet2012", "tfds:imagenet2012"):  # streamed: it would not fit in memory
        if size is not None:
            raise ValueError(f"{dataset}: takes no input size (Section 4.1: shorter side "
                             f"{IMAGENET_RESIZE}, crops of {IMAGENET_CROP}), got {input_size}")
        return _load_imagenet(data_dir, val_fraction, train_examples)
    if dataset == "cifar10" or dataset.startswith("tfds:"):
        name = dataset[len("tfds:"):] if dataset.startswith("tfds:") else dataset
        if not name:
            raise ValueError("tfds: needs a tensorflow-datasets name, as in tfds:cifar100")
        return _load_tfds(dataset, name, data_dir, size, log, *split)
    raise ValueError(f"unknown dataset {dataset!r}: expected {DATASET_FORMS}")


def _size_pair(input_size):
    """`input_size` as (height, width): an int S is S x S; None stays None."""
    if input_size is None:
        return None
    pair = (input_size, input_size) if isinstance(input_size, int) else input_size
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(d, int) and d >= 1 for d in pair)):
        raise ValueError(f"input_size must be a positive int or (height, width), "
                         f"got {input_size!r}")
    return tuple(pair)


def _read_npz(path):
    """The four arrays of a .npz file, checked; labels come back as int64 vectors."""
    where = f"npz:{path}"
    if not path:
        raise ValueError("npz: needs a path, as in npz:data/cifar10_subset.npz")
    if not os.path.isfile(path):
        raise ValueError(f"{where}: no such file")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an archive of named arrays")
        with archive:
            arrays = {name: archive[name] for name in NPZ_ARRAYS if name in archive.files}
    except (OSError, EOFError, ValueError) as e:
        # np.load's ways of saying "not an .npz archive": a pickle it may not load (ValueError),
        # a truncated or foreign file (OSError, EOFError).
        raise ValueError(f"{where}: not a readable .npz file ({e})") from None
    missing = [name for name in NPZ_ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"{where}: missing arrays {', '.join(missing)} "
                         f"(needs {', '.join(NPZ_ARRAYS)})")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8:
            raise ValueError(f"{where}: x_{split} has dtype {x.dtype}, expected uint8 images")
        if x.ndim != 4 or x.shape[-1] not in (1, 3) or x.shape[0] == 0:
            raise ValueError(f"{where}: x_{split} has shape {x.shape}, expected (N, H, W, 3) "
                             f"or (N, H, W, 1) with N >= 1")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # keras.datasets style (N, 1) labels
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
            raise ValueError(f"{where}: y_{split} has dtype {y.dtype} and shape {y.shape}, "
                             f"expected integer labels of shape (N,)")
        if len(y) != len(x):
            raise ValueError(f"{where}: y_{split} has {len(y)} labels for {len(x)} images")
        if y.min() < 0:
            raise ValueError(f"{where}: y_{split} has a negative label ({y.min()})")
        arrays[f"y_{split}"] = y.astype(np.int64)
    if arrays["x_test"].shape[1:] != arrays["x_train"].shape[1:]:
        raise ValueError(f"{where}: x_test images are {arrays['x_test'].shape[1:]}, "
                         f"x_train images {arrays['x_train'].shape[1:]}")
    return tuple(arrays[name] for name in NPZ_ARRAYS)


def _hold_out_test(where, why, x, y, log):
    """x_train, y_train, x_test, y_test of a data set without a test split: TEST_FRACTION of
    (x, y) is held out, drawn with TEST_SEED, so that runs with any seed test on the same images
    (said in a `log` line)."""
    test_index, rest = _held_out(len(x), TEST_FRACTION, TEST_SEED)
    train_index = np.sort(rest)
    log(f"{where}: {why}, so {len(test_index)} of its {len(x)} images "
        f"({TEST_FRACTION:.0%}, seed {TEST_SEED}) are held out as the test split")
    return x[train_index], y[train_index], x[test_index], y[test_index]


def _held_out(n, fraction, seed):
    """A seeded random `fraction` of range(n) (at least one, at least one left), sorted, and the
    rest in random order."""
    count = min(max(1, round(fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:count]), order[count:]


def _from_arrays(name, x_train, y_train, x_test, y_test, num_classes, val_fraction,
                 train_examples, seed, class_names=()):
    """`Data` of in-memory arrays: x (N, H, W, C) uint8, y (N,) int64."""
    n = len(x_train)
    if n < 2:
        raise ValueError(f"{name}: x_train has {n} example, need at least 2 (one to validate, "
                         f"one to train)")
    val_index, rest = _held_out(n, val_fraction, seed)
    train_index = np.sort(rest[:train_examples])  # [:None] keeps all
    x, y = x_train[train_index], y_train[train_index]
    mean, std = _channel_stats(x)

    def split(images, labels):
        return tf.data.Dataset.from_tensor_slices((images, labels))

    return Data(name=name, train=split(x, y),
                val=split(x_train[val_index], y_train[val_index]),
                test=split(x_test, y_test), num_classes=num_classes,
                input_shape=tuple(int(d) for d in x_train.shape[1:]), mean=mean, std=std,
                num_train=len(train_index), num_val=len(val_index), num_test=len(x_test),
                shuffle_buffer=len(train_index), in_memory=True,
                class_names=tuple(class_names))


def _channel_stats(images):
    """Per-channel mean and standard deviation of uint8 images (N, H, W, C), float32 (C,).

    Summed in chunks: a float64 copy of all of CIFAR-10 would take 1.1 GB.
    """
    channels = images.shape[-1]
    total = np.zeros(channels)
    squares = np.zeros(channels)
    for start in range(0, len(images), 4096):
        chunk = images[start:start + 4096].astype(np.float64)  # (B, H, W, C)
        total += chunk.sum(axis=(0, 1, 2))
        squares += np.square(chunk).sum(axis=(0, 1, 2))
    count = images.size // channels
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
    # A constant channel would divide by zero; one pixel level keeps it finite and unchanged.
    return mean.astype(np.float32), np.maximum(std, 1.0).astype(np.float32)


def _in_memory(examples, size=None):
    """An unbatched dataset of (image, label) pairs as arrays x (N, H, W, C) uint8, y (N,) int64;
    every image resized to `size` (height, width) first unless it is None.

    Batched reads rather than batch_size=-1, which crashes under tfds' mock data.
    """
    if size is not None:
        examples = examples.map(lambda image, label: (images.resized(image, size), label),
                                num_parallel_calls=tf.data.AUTOTUNE)
    batches = list(examples.batch(8192).as_numpy_iterator())
    return (np.concatenate([x for x, _ in batches]),
            np.concatenate([y for _, y in batches]).astype(np.int64))


def _tfds_builder(name, data_dir, where=None, check=None):
    """A prepared tfds builder; failures (no internet, no manual download) become ValueError
    naming `where` (default: `name`). `check(builder)`, if given, runs before anything is
    downloaded, to refuse a data set by its description with a ValueError of its own."""
    import tensorflow_datasets as tfds  # only the tfds data sets need it, and it imports slowly
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises many types (DatasetNotFoundError, OSError...)
        raise _not_prepared(where or name, name, e) from None
    if check is not None:
        check(builder)
    try:
        builder.download_and_prepare()
    except Exception as e:  # (DownloadError, AssertionError, OSError...)
        raise _not_prepared(where or name, name, e) from None
    return builder


def _not_prepared(where, name, error):
    first_line = guard.first_line(error, type(error).__name__).rstrip(" :")
    hint = ("imagenet2012 needs its manual download, ILSVRC2012_img_train.tar and "
            "ILSVRC2012_img_val.tar in DATA_DIR/downloads/manual (DATA_DIR: --data_dir)"
            if name == "imagenet2012" else "without internet use --dataset=npz:PATH")
    return ValueError(f"{where}: tensorflow-datasets could not prepare it ({first_line}); {hint}")


def _image_classification(where):
    """A `_tfds_builder` check: the builder's features include an `image` (tfds Image, uint8)
    and a `label` (ClassLabel), the two that tfds:NAME reads."""
    import tensorflow_datasets as tfds

    def check(builder):
        features = builder.info.features
        kinds = {name: features[name] for name in features.keys()}
        if not (isinstance(kinds.get("image"), tfds.features.Image)
                and isinstance(kinds.get("label"), tfds.features.ClassLabel)):
            has = ", ".join(f"{name} ({type(kinds[name]).__name__})" for name in sorted(kinds))
            raise ValueError(f"{where}: needs an 'image' feature (Image) and a 'label' feature "
                             f"(ClassLabel), has {has}")
        dtype = tf.as_dtype(features["image"].dtype)
        if dtype != tf.uint8:
            raise ValueError(f"{where}: its images are {dtype.name}, expected uint8")
    return check


def _split_size(builder, split):
    if split in builder.info.splits:
        return builder.info.splits[split].num_examples
    # Under tfds.testing.mock_data info.splits is empty: count the mock examples.
    return int(builder.as_dataset(split=split).reduce(0, lambda n, _: n + 1))


def _load_tfds(dataset, name, data_dir, size, log, val_fraction, train_examples, seed):
    """tfds image classification set `name` (cifar10, or tfds:NAME), read into memory.

    Its features `image` and `label` are read (`_image_classification`'s rule); its images must
    be one size unless `size` resizes them; without a test split one is held out as for a
    folder. 50,000 images of 32x32x3 are 150 MB: in memory they share the .npz code path, whose
    seeded split needs random access.
    """
    builder = _tfds_builder(name, data_dir, dataset, _image_classification(dataset))
    features = builder.info.features
    shape = features["image"].shape  # (H, W, C); H and W are None where sizes vary
    if size is None and None in shape[:2]:
        raise ValueError(f"{dataset}: images differ in size ({shape}); give an input size "
                         f"(--input_size) to resize them")
    if size is not None and tuple(shape[:2]) != size:
        known = images.hxw(shape[:2]) if None not in shape[:2] else "varying sizes"
        log(f"{dataset}: images of {known} resized to {images.hxw(size)}")
    else:
        size = None

    def arrays(split):
        examples = builder.as_dataset(split=split, shuffle_files=False)
        return _in_memory(examples.map(lambda example: (example["image"], example["label"])),
                          size)

    x_train, y_train = arrays("train")
    splits = builder.info.splits  # empty under tfds.testing.mock_data: train and test assumed
    if splits and "test" not in splits:
        x_train, y_train, x_test, y_test = _hold_out_test(dataset, "no test split", x_train,
                                                          y_train, log)
    else:
        x_test, y_test = arrays("test")
    label = features["label"]
    return _from_arrays(dataset, x_train, y_train, x_test, y_test, label.num_classes,
                        val_fraction, train_examples, seed, class_names=label.names)


def _load_imagenet(data_dir, val_fraction, train_examples):
    import tensorflow_datasets as tfds
    builder = _tfds_builder("imagenet2012", data_dir)
    n = _split_size(builder, "train")
    num_val = min(max(1, round(val_fraction * n)), n - 1)
    num_train = n - num_val if train_examples is None else min(train_examples, n - num_val)

    def read(split, resize):
        # JPEG bytes are decoded only after split slicing has picked the examples.
        ds = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False,
                                decoders={"image": tfds.decode.SkipDecoding()})
        return ds.map(lambda jpeg, label: (resize(jpeg), label),
                      num_parallel_calls=tf.data.AUTOTUNE)

    return Data(name="imagenet2012",
                train=read(f"train[{num_val}:{num_val + num_train}]", _decode_resized),
                val=read(f"train[:{num_val}]", _decode_center_crop),
                test=read("validation", _decode_center_crop),
                num_classes=builder.info.features["label"].num_classes,
                input_shape=(IMAGENET_CROP, IMAGENET_CROP, 3), mean=IMAGENET_MEAN,
                std=IMAGENET_STD, num_train=num_train, num_val=num_val,
                num_test=_split_size(builder, "validation"),
                shuffle_buffer=IMAGENET_SHUFFLE_BUFFER, in_memory=False,
                class_names=tuple(builder.info.features["label"].names))


def _decode_resized(jpeg):
    """JPEG bytes -> uint8 (H', W', 3) image whose shorter side is IMAGENET_RESIZE."""
    image = tf.io.decode_jpeg(jpeg, channels=3)  # (H, W, 3)
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = IMAGENET_RESIZE / tf.reduce_min(size)
    new_size = tf.maximum(tf.cast(tf.round(size * scale), tf.int32), IMAGENET_RESIZE)
    return images.resized(image, new_size)


def _decode_center_crop(jpeg):
    return tf.image.resize_with_crop_or_pad(_decode_resized(jpeg), IMAGENET_CROP, IMAGENET_CROP)


def with_validation(data):
    """`data` with the validation images given back to training and no validation split left:
    what the final network trains on before it is tested (the test split is unchanged; the
    normalization keeps the training split's statistics)."""
    return dataclasses.replace(
        data, name=f"{data.name} (training + validation)", train=data.train.concatenate(data.val),
        val=data.val.take(0), num_train=data.num_train + data.num_val, num_val=0,
        shuffle_buffer=data.shuffle_buffer + (data.num_val if data.shuffle_buffer ==
                                              data.num_train else 0))
