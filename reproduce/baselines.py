"""The baseline networks of Tables 1 and 2, built in Keras so that lifetime.py can measure their
memory: ResNet-56/-110 for CIFAR, MobileNetV2 with CIFAR strides and ShuffleNet V1 in both
layouts. keras.applications' models are used as they are where they exist.

Each builder takes a width, so that Table 1 can also train baselines narrowed to the memory of
the searched networks (table1_cifar10.py --train_baselines): ResNet's `width` (filters of the
first stage), MobileNetV2's `alpha` (keras.applications' width multiplier) and ShuffleNet's
`scale` ("0.25x" .. "2.0x"). The defaults are the published networks.
"""

from absl import flags
import keras

import lifetime
import network
from reproduce import report


def define_flags(name, runs_help, smoke_help):
    """The flags of a script that measures the baselines (Tables 1 and 2): --runs, --out_dir,
    --bytes, --schedule and --smoke."""
    flags.DEFINE_list("runs", None, f"search.py out_dirs (or folders of them): {runs_help}")
    flags.DEFINE_string("out_dir", f"runs/reproduce/{name}",
                        f"Where {name}.json and {name}.png go.")
    flags.DEFINE_integer("bytes", 4, "Bytes per value (4 = float32).")
    flags.DEFINE_enum("schedule", "paper", lifetime.SCHEDULES, "Lifetime schedule.")
    flags.DEFINE_bool("smoke", False, f"Seconds: {smoke_help}")


def measure_models(builders, bytes_per_value, schedule, log=print):
    """{name: memory_mib(...) + how the model was built} of (name, how, build) triples; each
    model is built, measured and dropped, so only one is held at a time."""
    measured = {}
    for name, how, build in builders:
        log(f"  {name}: {how}")
        memory = lifetime.model_memory(build(), bytes_per_value, schedule)
        measured[name] = dict(report.memory_mib(memory), built=how)
    return measured


def _bn(x, activation):
    """BatchNorm, then "relu", "relu6" or no activation."""
    x = keras.layers.BatchNormalization(momentum=network.BN_MOMENTUM)(x)  # as the searched ones
    if activation is None:
        return x
    return keras.layers.ReLU(max_value=6.0 if activation == "relu6" else None)(x)


def _conv_bn(x, filters, kernel, strides=1, groups=1, activation="relu"):
    """Conv (no bias: BatchNorm follows) - BN - activation."""
    return _bn(keras.layers.Conv2D(filters, kernel, strides, padding="same", groups=groups,
                                   use_bias=False)(x), activation)


def _dw_bn(x, strides, activation=None):
    """Depthwise 3x3 - BN - activation."""
    return _bn(keras.layers.DepthwiseConv2D(3, strides, padding="same", use_bias=False)(x),
               activation)


def _classifier(x, inputs, num_classes, name):
    x = keras.layers.GlobalAveragePooling2D()(x)
    # Logits in float32 under a mixed dtype policy too, as network.build_model's: a baseline
    # trained beside the searched networks gets the same loss precision.
    logits = keras.layers.Dense(num_classes, dtype="float32")(x)
    return keras.Model(inputs, logits, name=name)


def _option_a(channels):
    """He et al.'s shortcut option A: subsample by 2 and zero-pad the new channels."""

    def shortcut(x):
        pad = channels - x.shape[-1]
        return keras.ops.pad(x[:, ::2, ::2, :],
                             [[0, 0], [0, 0], [0, 0], [pad // 2, pad - pad // 2]])
    return shortcut


def resnet_cifar(depth, num_classes=10, input_shape=(32, 32, 3), width=16):
    """The CIFAR ResNet of He et al. 2016 (Section 4.2): a 3x3 conv with 16 filters, three
    stages of n = (depth - 2) / 6 basic blocks (two 3x3 convs) with 16, 32 and 64 filters on
    32x32, 16x16 and 8x8 maps, global average pooling, a dense layer. `width` replaces the 16:
    the stem and stages get width, 2 width and 4 width filters (He et al.'s only width is 16).

    Shortcuts are option A, as in that paper's CIFAR networks: the identity, or at a stage's
    first block a subsample and zero-padding of the new channels (one parameter-free Lambda
    node). So ResNet-56 has the published 0.85 M parameters and ResNet-110 the 1.7 M.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet depth {depth}: must be 6n + 2 with n >= 1")
    if width < 1:
        raise ValueError(f"ResNet width {width}: must be at least 1")
    inputs = keras.Input(input_shape)
    x = _conv_bn(inputs, width, 3)
    for stage, filters in enumerate((width, 2 * width, 4 * width)):
        for i in range((depth - 2) // 6):
            strides = 2 if stage > 0 and i == 0 else 1
            y = _conv_bn(_conv_bn(x, filters, 3, strides), filters, 3, activation=None)
            shortcut = x if strides == 1 else keras.layers.Lambda(_option_a(filters))(x)
            x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    return _classifier(x, inputs, num_classes, f"resnet{depth}" + ("" if width == 16 else
                                                                  f"_w{width}"))


# (expansion t, output channels c, repeats n, stride s) of Sandler et al. 2018, Table 2, with
# the usual CIFAR change: the second stage strides 1, not 2 (and the stem too, below).
MOBILENET_V2_CIFAR_STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(value, divisor=8):
    """keras.applications.MobileNetV2's channel rounding (from the TF-Slim original): the
    nearest multiple of `divisor`, at least `divisor`, and never more than 10 % below
    `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobilenet_v2_cifar(num_classes=10, input_shape=(32, 32, 3),
                       stages=MOBILENET_V2_CIFAR_STAGES, alpha=1.0):
    """MobileNetV2 for 32x32 inputs: the layers of keras.applications.MobileNetV2, but the
    stem and the second stage stride 1, so the maps end at 4x4 instead of 1x1 (the common CIFAR
    adaptation, e.g. github.com/kuangliu/pytorch-cifar). `stages`: (t, c, n, s) rows; fewer
    repeats give the quick networks of --smoke.

    `alpha`: the width multiplier, applied as keras.applications does: the stem's 32 and each
    stage's c become make_divisible(32 alpha) and make_divisible(int(c alpha)), multiples of
    8; an expansion has t times its input's channels; the last 1x1 conv keeps 1280 channels
    for alpha <= 1 and has make_divisible(1280 alpha) above (Sandler et al. keep it so that
    narrow networks still have a wide classifier input)."""
    if not alpha > 0:
        raise ValueError(f"MobileNetV2 alpha {alpha}: must be positive")
    inputs = keras.Input(input_shape)
    x = _conv_bn(inputs, make_divisible(32 * alpha), 3, activation="relu6")
    for t, c, n, s in stages:
        channels = make_divisible(int(c * alpha))
        for i in range(n):
            y = x if t == 1 else _conv_bn(x, t * x.shape[-1], 1, activation="relu6")
            y = _conv_bn(_dw_bn(y, s if i == 0 else 1, "relu6"), channels, 1, activation=None)
            x = keras.layers.Add()([x, y]) if i > 0 else y
    x = _conv_bn(x, make_divisible(1280 * alpha) if alpha > 1 else 1280, 1, activation="relu6")
    return _classifier(x, inputs, num_classes, "mobilenet_v2_cifar" + (
        "" if alpha == 1 else f"_{alpha:g}"))


# Output channels of the stem and the three stages of ShuffleNet V1 with g = 3 groups (Zhang et
# al. 2018, Table 1: a scale s multiplies the stages' channels; the stems as in the authors'
# released models, github.com/megvii-model/ShuffleNet-Series, whose 0.5x halves the stem too),
# and units per stage. 0.25x is ours: the paper's Table 2 reports a 0.25x but lists no channels,
# and the released code stops at 0.5x. Its stages are a quarter of 1.0x's; its stem is 0.5x's
# 12, because 6 would leave the first unit's branch (60 - 6 = 54 channels) indivisible into a
# bottleneck of a quarter split into 3 groups (`_shuffle_unit`).
SHUFFLENET_V1_G3 = {"0.25x": (12, 60, 120, 240), "0.5x": (12, 120, 240, 480),
                    "1.0x": (24, 240, 480, 960), "1.5x": (24, 360, 720, 1440),
                    "2.0x": (48, 480, 960, 1920)}
SHUFFLENET_V1_UNITS = (4, 8, 4)


def _channel_shuffle(x, groups):
    """(H, W, g*c) -> (H, W, g, c) -> (H, W, c, g) -> (H, W, g*c). Reshapes are fused by
    lifetime.py; the Permute is one node of its input's size that replaces its input, so it
    adds a time step but no memory."""
    h, w, c = x.shape[1:]
    x = keras.layers.Reshape((h, w, groups, c // groups))(x)
    x = keras.layers.Permute((1, 2, 4, 3))(x)
    return keras.layers.Reshape((h, w, c))(x)


def _shuffle_unit(x, out_channels, strides, groups, first_groups):
    """ShuffleNet V1 unit (Figure 2b/c): 1x1 group conv, shuffle, 3x3 depthwise, 1x1 group
    conv; added to the input, or at stride 2 concatenated to its 3x3 average pool.
    `first_groups`: groups of the first 1x1 conv (1 on the stem's few channels)."""
    branch = out_channels - x.shape[-1] if strides == 2 else out_channels
    if branch % (4 * groups):
        # The bottleneck is a quarter of the branch, and both 1x1 convs split channels into
        # `groups`: a scale whose channels do not divide so cannot be built.
        raise ValueError(f"ShuffleNet V1 unit with {branch} branch channels: must be a "
                         f"multiple of 4 x {groups} groups")
    y = _conv_bn(x, branch // 4, 1, groups=first_groups)
    if first_groups > 1:
        y = _channel_shuffle(y, first_groups)
    y = _conv_bn(_dw_bn(y, strides), branch, 1, groups=groups, activation=None)
    if strides == 1:
        return keras.layers.ReLU()(keras.layers.Add()([x, y]))
    pooled = keras.layers.AveragePooling2D(3, 2, padding="same")(x)
    return keras.layers.ReLU()(keras.layers.Concatenate()([pooled, y]))


def shufflenet_v1(scale="1.0x", num_classes=10, input_shape=(32, 32, 3), cifar=True,
                  units=SHUFFLENET_V1_UNITS):
    """ShuffleNet V1 with g = 3 (Zhang et al. 2018). ImageNet layout: 3x3 stem with stride 2
    and a 3x3 max pool; CIFAR layout (cifar=True): stride-1 stem and no pool, so 32x32 maps
    end at 4x4 (as github.com/kuangliu/pytorch-cifar). Each stage's first unit strides 2.
    `units` per stage: fewer give the quick networks of --smoke."""
    if scale not in SHUFFLENET_V1_G3:
        raise ValueError(f"ShuffleNet V1 scale {scale!r}: one of {', '.join(SHUFFLENET_V1_G3)}")
    stem, *stages = SHUFFLENET_V1_G3[scale]
    inputs = keras.Input(input_shape)
    x = _conv_bn(inputs, stem, 3, strides=1 if cifar else 2)
    if not cifar:
        x = keras.layers.MaxPooling2D(3, 2, padding="same")(x)
    for stage, (channels, count) in enumerate(zip(stages, units)):
        for i in range(count):
            x = _shuffle_unit(x, channels, 2 if i == 0 else 1, groups=3,
                              first_groups=1 if stage == i == 0 else 3)
    return _classifier(x, inputs, num_classes, f"shufflenet_v1_{scale}")
