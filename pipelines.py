"""Input pipelines (paper Section 4.1): a data set's splits (inputs.Data) as normalized batches,
augmented on the training split only.

* **Where augmentation runs.** Normalization runs in the `tf.data` pipeline of every split;
  pad/crop/flip/cutout (one 16x16 hole, from the authors' code) run in a `tf.data` map on the
  training split only, never inside the model. The model is exactly `network.build_model(...)`,
  so the trained network is the one `lifetime.py` measures; a user of the saved model
  normalizes with `Data.mean`/`Data.std` (also written to train.py's result.json).
  Normalization comes first, so padding and the cutout hole are zeros, i.e. the channel mean.
* **Why not Keras' augmentation layers.** `keras.layers.RandomCrop` returns the padded image
  unchanged at inference (keras #21868) and `keras.layers.RandomErasing` erases a random area
  fraction with a random probability, not one fixed 16x16 hole. Both draw from stateful seed
  generators, so a parallel `tf.data` map would not be reproducible either. The few lines of
  `augment` / `cutout` use `tf.image`'s stateless ops with one seed per example instead.
* **Caching.** A data set held in memory (npz, CIFAR-10) is normalized once: its pipelines cache
  the normalized images (`tf.data.Dataset.cache`, float32, four times the uint8 arrays: 550 MB
  for CIFAR-10's 45,000 training images). The training pipeline caches them before it shuffles
  and augments, so each epoch still draws new augmentations, and the batches are the same as
  without the cache. ImageNet is streamed from disk and never cached: it would not fit.
"""

import tensorflow as tf


def normalize(image, mean, std):
    """uint8 (..., C) -> float32 (..., C), zero mean and unit variance per channel."""
    return (tf.cast(image, tf.float32) - mean) / std


def cutout(image, size, center):
    """Zero a size x size square centred at `center` (row, col) of image (H, W, C).

    As in DeVries & Taylor's cutout the centre may lie anywhere in the image and the square is
    clipped at the borders, so a hole near an edge is smaller.
    """
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    top = center[0] - size // 2
    left = center[1] - size // 2
    rows = tf.range(height)
    cols = tf.range(width)
    in_rows = (rows >= top) & (rows < top + size)  # (H,)
    in_cols = (cols >= left) & (cols < left + size)  # (W,)
    hole = in_rows[:, None] & in_cols[None, :]  # (H, W)
    return tf.where(hole[..., None], tf.zeros_like(image), image)


def augment(image, seed, size, pad, cutout_size):
    """Section 4.1's training augmentation of one normalized image (H, W, C) -> (h, w, C).

    Zero-pad by `pad`, random-crop `size` = (h, w), random horizontal flip, then one cutout
    hole of side `cutout_size` (0: none). `seed` is a stateless seed, shape (2,): the same seed
    gives the same augmentation, in any order and in parallel.
    """
    crop_seed, flip_seed, row_seed, col_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    height, width = size
    channels = image.shape[-1]  # static in every pipeline here: the model's input needs it
    image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])  # (H + 2 pad, W + 2 pad, C)
    image = tf.image.stateless_random_crop(image, (height, width, channels), crop_seed)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    if cutout_size > 0:
        row = tf.random.stateless_uniform([], row_seed, 0, height, dtype=tf.int32)
        col = tf.random.stateless_uniform([], col_seed, 0, width, dtype=tf.int32)
        image = cutout(image, cutout_size, (row, col))
    return image


def train_pipeline(data, config):
    """Shuffled, augmented, normalized batches of the training split: ((B, h, w, C), (B,)).

    Only whole batches (see `steps_per_epoch`). Each example gets its own stateless seed from a
    seeded random stream that is redrawn every epoch, so augmentations differ between epochs but
    a run with the same seed repeats exactly. An in-memory split is normalized in the first
    epoch only and cached (module docstring); the shuffle and the augmentation come after the
    cache, and give the same batches as without it.
    """
    normalized = _normalizer(data)
    size = data.input_shape[:2]
    examples = data.train
    if data.in_memory:
        examples = examples.map(normalized, num_parallel_calls=tf.data.AUTOTUNE).cache()
    # A streamed split is shuffled as uint8 images: a float32 buffer would be four times larger.
    examples = examples.shuffle(data.shuffle_buffer, seed=config.seed,
                                reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)

    def prepare(example, seed):
        image, label = example if data.in_memory else normalized(*example)
        return augment(image, seed, size, config.pad, config.cutout), label

    return (tf.data.Dataset.zip(examples, seeds)
            .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(config.batch_size, drop_remainder=data.num_train >= config.batch_size)
            .prefetch(tf.data.AUTOTUNE))


def steps_per_epoch(num_train, batch_size):
    """Training batches per epoch.

    A last, smaller batch would make Keras trace (on a GPU: XLA-compile) the training step a
    second time for every candidate, so it is dropped: a different few examples each epoch, as
    the order is reshuffled. A split smaller than one batch is one batch.
    """
    return max(1, num_train // batch_size)


def eval_pipeline(data, split, batch_size):
    """Normalized batches of `split` (data.val or data.test), nothing random.

    An in-memory split's normalized images are cached by the first pass over the pipeline, so
    that later passes (another evaluation with the same pipeline) only batch them.
    """
    images = split.map(_normalizer(data), num_parallel_calls=tf.data.AUTOTUNE)
    if data.in_memory:
        images = images.cache()
    return images.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _normalizer(data):
    """(image, label) -> (normalized image, label) with `data`'s statistics."""
    mean, std = tf.constant(data.mean), tf.constant(data.std)

    def normalized(image, label):
        return normalize(image, mean, std), label

    return normalized
