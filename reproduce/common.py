"""What the reproduction scripts share: the paper's numbers, reading search out_dirs, printing
a paper-beside-ours table, and small scaled-down searches.

Each script in this folder regenerates one table or figure of the paper (SPEC §8). They run as
``python reproduce/NAME.py`` from the repository root; importing this module puts the root on
``sys.path`` so the scripts can import ``cells``, ``lifetime``, ``search`` ... as usual.
"""

import dataclasses
import glob
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import search  # noqa: E402  (needs ROOT on sys.path)

MB = 2 ** 20  # the paper's "MB"; its convention (10^6 or 2^20) is not stated, we use MiB

# ---------------------------------------------------------------------------------------------
# The paper's numbers (../shared/paper: memnas_cvpr2020.txt and the authors' README)
# ---------------------------------------------------------------------------------------------

# Table 1, CIFAR-10: total memory (MB), parameter memory (MB, from the authors' README), top-1 %.
PAPER_TABLE1 = {
    "MobileNet-V2": (16.3, 13.9, 94.1),
    "ResNet-110": (9.9, 6.8, 93.5),
    "ResNet-56": (6.7, 3.4, 93.0),
    "ShuffleNet": (8.3, 3.6, 92.2),
    "CondenseNet-86": (8.1, 2.1, 94.9),
    "CondenseNet-50": (6.8, 1.0, 93.7),
    "DPPNet-P": (8.1, 2.1, 95.3),
    "DPPNet-M": (7.7, 1.8, 94.1),
    "MemNAS (lambda=0.5)": (5.8, 0.8, 94.0),
    "MemNAS (lambda=0.8)": (6.4, 1.8, 95.7),
}

# Table 2, ImageNet: total memory (MB), inference latency (ms, None if not given), top-1 %.
PAPER_TABLE2 = {
    "CondenseNet (G=C=8)": (24.4, None, 71.0),
    "ShuffleNet V1 (1.5x)": (25.1, None, 71.5),
    "MobileNet V2 (1.0x)": (33.1, 75, 71.8),
    "ShuffleNet V2 (1.5x)": (26.1, None, 72.6),
    "DVOLER-C": (29.5, None, 70.2),
    "EMNAS": (54.0, None, 71.7),
    "FBNet-A": (29.0, None, 73.0),
    "MnasNet (DM=0.75)": (27.4, 61, 73.3),
    "DARTS": (31.0, None, 73.3),
    "NASNet (Mobile)": (53.2, 183, 73.5),
    "MemNAS-A": (22.8, 58, 74.1),
    "CondenseNet (G=C=4)": (31.6, None, 73.8),
    "ShuffleNet V1 (2.0x)": (33.5, None, 73.7),
    "MobileNet V2 (1.4x)": (48.5, None, 74.7),
    "ShuffleNet V2 (2.0x)": (51.6, None, 74.9),
    "DPPNet-P (PPPNet)": (34.7, None, 74.0),
    "ProxylessNAS-M": (36.2, 78, 74.6),
    "DVOLER-A": (39.1, None, 74.8),
    "FBNet-C": (35.2, None, 74.9),
    "MnasNet (DM=1)": (36.7, 78, 75.2),
    "MemNAS-B": (28.1, 69, 75.4),
}

# Table 3, controllers: AP@50, AP@100, NDCG@50, NDCG@100.
PAPER_TABLE3 = {
    "Single-RNN": (0.066, 0.237, 0.043, 0.078),
    "Double-RNN": (0.128, 0.268, 0.062, 0.080),
    "SCC": (0.196, 0.283, 0.135, 0.201),
}

# Figure 3: the memory row of the Figure 1b block with unit node sizes, and its peak.
PAPER_FIGURE3_ROW = (1, 3, 2, 4, 3, 4, 3, 1)
PAPER_FIGURE3_PEAK = 4

# Figure 5 (text of Section 4.4): error falls from 9.5 % to 4 % while total memory grows from
# 0.5 MB to over 2.5 MB as lambda goes from 0 to 1.
PAPER_FIGURE5_LAMBDAS = (0.0, 0.2, 0.5, 0.8, 1.0)


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------

def fmt(value, digits=2):
    """A table cell: numbers rounded, missing values as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(header, rows, digits=2):
    """A plain-text table, columns aligned, numbers right-aligned; returns the string."""
    cells_ = [[fmt(v, digits) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells_)) if cells_ else len(str(h))
              for i, h in enumerate(header)]

    def line(values, numeric):
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric))

    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
               for i in range(len(header))]
    out = [line([str(h) for h in header], numeric), line(["-" * w for w in widths], numeric)]
    out += [line(r, numeric) for r in cells_]
    return "\n".join(out)


def write_json(path, data):
    """Results beside the figure, so tests and the README read numbers, not stdout."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)


# ---------------------------------------------------------------------------------------------
# Baseline networks (Tables 1 and 2)
# ---------------------------------------------------------------------------------------------

def define_memory_flags():
    """--bytes and --schedule of the scripts that measure memory (Tables 1 and 2)."""
    from absl import flags
    import lifetime
    flags.DEFINE_integer("bytes", 4, "Bytes per value (4 = float32).")
    flags.DEFINE_enum("schedule", "paper", lifetime.SCHEDULES, "Lifetime schedule.")


def conventions(bytes_per_value, schedule):
    """The note every memory table prints: the paper never states how it measured baselines."""
    return (f"The paper does not state its memory conventions for the baselines (MB = 10^6 or "
            f"2^20 bytes? float32? BatchNorm folded? which activations counted?). Ours: MiB "
            f"(2^20 bytes = 1.048576 MB), {bytes_per_value} bytes per value, BatchNorm folded "
            f"into the conv before it, intermediate memory = peak of the lifetime analysis "
            f"({schedule} schedule) over the layer outputs of the Keras graph (BatchNorm, "
            f"activations and reshapes fused into the layer before them).")


def memory_notes(rows, bytes_per_value, schedule):
    """The conventions and one line per row whose memory we measured on a built model."""
    return ["notes:", "- " + conventions(bytes_per_value, schedule)] + [
        f"- {row['model']}: {row['ours']['built']}; {row['ours']['params']:,d} parameters "
        f"(BN folded)" for row in rows if row["ours"] and "built" in row["ours"]]


def memory_mib(memory):
    """The numbers of a lifetime.Memory that the tables show, in MiB."""
    return {"params": memory.params, "params_mib": memory.param_bytes / MB,
            "intermediate_mib": memory.activation_bytes / MB,
            "total_mib": memory.total_bytes / MB}


def measure_models(builders, bytes_per_value, schedule, log=print):
    """{name: memory_mib(...) + how the model was built} of (name, how, build) triples; each
    model is built, measured and dropped, so only one is held at a time."""
    import lifetime
    measured = {}
    for name, how, build in builders:
        log(f"  {name}: {how}")
        memory = lifetime.model_memory(build(), bytes_per_value, schedule)
        measured[name] = dict(memory_mib(memory), built=how)
    return measured


def final_arch(run):
    """The final network of a search (cells.Arch): summary.json's, or the last finished
    round's while the search is still going, as final_network."""
    import cells
    if run.summary is not None:
        return cells.from_json(run.summary["best_arch"])
    if not run.rounds:
        raise ValueError(f"{run.out_dir}: no finished round yet")
    return cells.from_json(run.rounds[-1]["best_arch"])


def paper_vs_ours(rows, paper_keys, ours_keys):
    """Table cells of rows {"model", "paper": dict or None, "ours": dict or None}."""
    return [[row["model"], *((row["paper"] or {}).get(k) for k in paper_keys),
             *((row["ours"] or {}).get(k) for k in ours_keys)] for row in rows]


def bar_chart(path, rows, title):
    """Total memory per row (as paper_vs_ours reads them), the paper's MB beside our MiB;
    indented rows (variants of the row above) are left out."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [row for row in rows if not row["model"].startswith(" ") and
            (row["paper"] or row["ours"])]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(rows) + 2), 4.8))
    for offset, key, field, label, colour in (
            (-0.2, "paper", "total_mb", "paper (MB)", "0.65"),
            (0.2, "ours", "total_mib", "ours (MiB)", "tab:blue")):
        have = [i for i, row in enumerate(rows) if row[key]]
        ax.bar(x[have] + offset, [rows[i][key][field] for i in have], 0.4, label=label,
               color=colour)
    ax.set_xticks(x, [row["model"] for row in rows], rotation=50, ha="right", fontsize=8)
    ax.set_ylabel("total memory")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _bn(x, activation):
    """BatchNorm, then "relu", "relu6" or no activation."""
    import keras
    x = keras.layers.BatchNormalization()(x)
    if activation is None:
        return x
    return keras.layers.ReLU(max_value=6.0 if activation == "relu6" else None)(x)


def _conv_bn(x, filters, kernel, strides=1, groups=1, activation="relu"):
    """Conv (no bias: BatchNorm follows) - BN - activation."""
    import keras
    return _bn(keras.layers.Conv2D(filters, kernel, strides, padding="same", groups=groups,
                                   use_bias=False)(x), activation)


def _dw_bn(x, strides, activation=None):
    """Depthwise 3x3 - BN - activation."""
    import keras
    return _bn(keras.layers.DepthwiseConv2D(3, strides, padding="same", use_bias=False)(x),
               activation)


def _classifier(x, inputs, num_classes, name):
    import keras
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x), name=name)


def _option_a(channels):
    """He et al.'s shortcut option A: subsample by 2 and zero-pad the new channels."""
    import keras

    def shortcut(x):
        pad = channels - x.shape[-1]
        return keras.ops.pad(x[:, ::2, ::2, :],
                             [[0, 0], [0, 0], [0, 0], [pad // 2, pad - pad // 2]])
    return shortcut


def resnet_cifar(depth, num_classes=10, input_shape=(32, 32, 3)):
    """The CIFAR ResNet of He et al. 2016 (Section 4.2): a 3x3 conv with 16 filters, three
    stages of n = (depth - 2) / 6 basic blocks (two 3x3 convs) with 16, 32 and 64 filters on
    32x32, 16x16 and 8x8 maps, global average pooling, a dense layer.

    Shortcuts are option A, as in that paper's CIFAR networks: the identity, or at a stage's
    first block a subsample and zero-padding of the new channels (one parameter-free Lambda
    node). So ResNet-56 has the published 0.85 M parameters and ResNet-110 the 1.7 M.
    """
    import keras
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet depth {depth}: must be 6n + 2 with n >= 1")
    inputs = keras.Input(input_shape)
    x = _conv_bn(inputs, 16, 3)
    for stage, filters in enumerate((16, 32, 64)):
        for i in range((depth - 2) // 6):
            strides = 2 if stage > 0 and i == 0 else 1
            y = _conv_bn(_conv_bn(x, filters, 3, strides), filters, 3, activation=None)
            shortcut = x if strides == 1 else keras.layers.Lambda(_option_a(filters))(x)
            x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    return _classifier(x, inputs, num_classes, f"resnet{depth}")


# (expansion t, output channels c, repeats n, stride s) of Sandler et al. 2018, Table 2, with
# the usual CIFAR change: the second stage strides 1, not 2 (and the stem too, below).
MOBILENET_V2_CIFAR_STAGES = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2_cifar(num_classes=10, input_shape=(32, 32, 3),
                       stages=MOBILENET_V2_CIFAR_STAGES):
    """MobileNetV2 (width 1.0) for 32x32 inputs: the layers of keras.applications.MobileNetV2,
    but the stem and the second stage stride 1, so the maps end at 4x4 instead of 1x1 (the
    common CIFAR adaptation, e.g. github.com/kuangliu/pytorch-cifar). `stages`: (t, c, n, s)
    rows; fewer repeats give the quick networks of --smoke."""
    import keras
    inputs = keras.Input(input_shape)
    x = _conv_bn(inputs, 32, 3, activation="relu6")
    for t, c, n, s in stages:
        for i in range(n):
            y = x if t == 1 else _conv_bn(x, t * x.shape[-1], 1, activation="relu6")
            y = _conv_bn(_dw_bn(y, s if i == 0 else 1, "relu6"), c, 1, activation=None)
            x = keras.layers.Add()([x, y]) if i > 0 else y
    x = _conv_bn(x, 1280, 1, activation="relu6")
    return _classifier(x, inputs, num_classes, "mobilenet_v2_cifar")


# Output channels of the stem and the three stages of ShuffleNet V1 with g = 3 groups (Zhang et
# al. 2018, Table 1; 1.5x and 2.0x as in the authors' released models), and units per stage.
SHUFFLENET_V1_G3 = {"1.0x": (24, 240, 480, 960), "1.5x": (24, 360, 720, 1440),
                    "2.0x": (48, 480, 960, 1920)}
SHUFFLENET_V1_UNITS = (4, 8, 4)


def _channel_shuffle(x, groups):
    """(H, W, g*c) -> (H, W, g, c) -> (H, W, c, g) -> (H, W, g*c). Reshapes are fused by
    lifetime.py; the Permute is one node of its input's size that replaces its input, so it
    adds a time step but no memory."""
    import keras
    h, w, c = x.shape[1:]
    x = keras.layers.Reshape((h, w, groups, c // groups))(x)
    x = keras.layers.Permute((1, 2, 4, 3))(x)
    return keras.layers.Reshape((h, w, c))(x)


def _shuffle_unit(x, out_channels, strides, groups, first_groups):
    """ShuffleNet V1 unit (Figure 2b/c): 1x1 group conv, shuffle, 3x3 depthwise, 1x1 group
    conv; added to the input, or at stride 2 concatenated to its 3x3 average pool.
    `first_groups`: groups of the first 1x1 conv (1 on the stem's few channels)."""
    import keras
    branch = out_channels - x.shape[-1] if strides == 2 else out_channels
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
    import keras
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


# ---------------------------------------------------------------------------------------------
# Search out_dirs
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    """One search.py out_dir, as written by search.run."""
    out_dir: str
    config: dict       # config.json: lambda_, k, train settings, data name ...
    candidates: list   # candidates.jsonl records
    rounds: list       # rounds.jsonl records
    summary: dict      # summary.json, or None if the search has not finished

    @property
    def lambda_(self):
        return self.config["lambda_"]

    def scale(self):
        """How this run was scaled down, for the tables' notes."""
        t = self.config["train"]
        return (f"{self.config['data']}, filters {t['filters']}, {t['epochs']} epochs, "
                f"k {self.config['k']}, {len(self.rounds)} rounds")


def load_run(out_dir):
    """A search out_dir; ValueError naming the directory and the missing file."""
    config_path = os.path.join(out_dir, "config.json")
    if not os.path.isfile(config_path):
        raise ValueError(f"{out_dir}: not a search.py out_dir (no config.json)")
    with open(config_path) as f:
        config = json.load(f)
    summary = None
    summary_path = os.path.join(out_dir, "summary.json")
    if os.path.isfile(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
    return Run(out_dir, config,
               search.read_jsonl(os.path.join(out_dir, "candidates.jsonl")),
               search.read_jsonl(os.path.join(out_dir, "rounds.jsonl")), summary)


def find_runs(paths):
    """Every out_dir at or under the given paths (a directory holding several runs works)."""
    found = []
    for path in paths:
        if not os.path.isdir(path):
            raise ValueError(f"--runs: {path}: no such directory")
        configs = sorted(glob.glob(os.path.join(path, "**", "config.json"), recursive=True))
        if not configs:
            raise ValueError(f"--runs: {path}: holds no search.py out_dir (no config.json)")
        found += [load_run(os.path.dirname(c)) for c in configs]
    return found


# ---------------------------------------------------------------------------------------------
# Scaled-down searches (Figures 4 and 5)
# ---------------------------------------------------------------------------------------------

CIFAR10_SUBSET = os.path.normpath(os.path.join(ROOT, "..", "shared", "data",
                                               "cifar10_subset.npz"))
# One lambda sweep serves Figure 4, Figure 5 and Table 1 (--runs runs/reproduce/searches).
SEARCHES = os.path.join("runs", "reproduce", "searches")


@dataclasses.dataclass(frozen=True)
class Scale:
    """How far a search is scaled down from the paper's (CIFAR-10, 60 epochs, w 64, k 100)."""
    # Sized for 2 shared CPU cores: five searches took 20 minutes (see figure5_lambda.py).
    dataset: str = f"npz:{CIFAR10_SUBSET}"
    rounds: int = 3
    k: int = 2
    epochs: int = 2
    filters: int = 8
    train_examples: int = 2000  # None: every training image left after the validation split
    controller_epochs: int = 30
    seed: int = 0
    run_eagerly: bool = False  # train.TrainConfig.run_eagerly: same numbers, other speed

    def describe(self):
        images = "all training images" if self.train_examples is None else \
            f"{self.train_examples} training images"
        return (f"{self.dataset} ({images}, 10% held out for validation), filters {self.filters} "
                f"(paper 64), {self.epochs} epochs (paper 60), k {self.k} (paper 100), up to "
                f"{self.rounds} rounds")


def scaled_search(out_dir, scale, lambda_, log=print):
    """A search.py run at `scale` (a Scale) into out_dir, resumed if it exists; its Run."""
    import train
    data = train.load_data(scale.dataset, None, 0.1, scale.train_examples, scale.seed)
    config = search.SearchConfig(lambda_=lambda_, rounds=scale.rounds, k=scale.k,
                                 controller_epochs=scale.controller_epochs, list_size=100,
                                 seed=scale.seed)
    train_config = train.TrainConfig(epochs=scale.epochs, filters=scale.filters, seed=scale.seed,
                                     verbose=0, run_eagerly=scale.run_eagerly)
    search.run(out_dir, data, config, train_config, log=log)
    return load_run(out_dir)


def stand_in_accuracy(params):
    """What --smoke uses instead of training: grows with the parameter count, saturating."""
    return 0.95 - 0.85 * math.exp(-params / 40_000)


SYNTHETIC = "SYNTHETIC (--smoke): no training, accuracy a stand-in function of the parameters"


def synthetic_search(out_dir, lambda_, rounds=3, k=8, filters=8, sample_seed=None):
    """A search.py out_dir made in a second without training, for --smoke.

    The rounds of search.run over the real grow/trim candidates with their exact p and r
    (CIFAR-sized inputs, `filters`), but accuracy is stand_in_accuracy. By default the
    controller is perfect: each round records its top k by y (Eq. 4 against the round's base),
    the best is the next base, and the search stops when it does not improve y. With
    `sample_seed`, each round records a random k instead, so that they span the whole range of y
    (Table 3 ranks them), the best of those is the next base whether or not it improves y, and
    every round is run.
    """
    import statistics
    import numpy as np
    import cells
    import grow_trim
    import lifetime
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "config.json"), {
        "lambda_": lambda_, "rounds": rounds, "k": k, "data": SYNTHETIC,
        "train": {"filters": filters, "epochs": 0}})
    candidates, rounds_log = [], []
    base = base_stats = None
    rng = None if sample_seed is None else np.random.default_rng(sample_seed)
    for r in range(rounds):
        distinct = {search.key(a): cells.canonical(a)
                    for a in grow_trim.generate(base).candidates}
        if rng is not None:
            keys = sorted(distinct)
            distinct = {keys[i]: distinct[keys[i]] for i in rng.permutation(len(keys))[:k]}
        stats = {}
        for key, arch in distinct.items():
            memory = lifetime.arch_memory(arch, filters)
            stats[key] = search.Stats(stand_in_accuracy(memory.params), memory.activation_bytes,
                                      memory.param_bytes)
        pre = base_stats or search.Stats(  # round 0, as search.run: chance and median memory
            0.1, statistics.median(s.r for s in stats.values()),
            statistics.median(s.p for s in stats.values()))
        y = {key: search.memory_efficiency(s, pre, lambda_) for key, s in stats.items()}
        top = sorted(stats, key=lambda key: -y[key])[:k]
        candidates += [{"round": r, "key": key, "arch": cells.to_json(distinct[key]),
                        "val_accuracy": stats[key].accuracy, "param_bytes": stats[key].p,
                        "activation_bytes": stats[key].r, "y": y[key], "status": "ok"}
                       for key in top]
        improved = r == 0 or y[top[0]] > 0
        go_on = improved or rng is not None
        round_base = base
        if go_on:
            base, base_stats = distinct[top[0]], stats[top[0]]
        rounds_log.append({
            "round": r, "base_arch": None if round_base is None else cells.to_json(round_base),
            "base": dataclasses.asdict(pre), "best_key": top[0],
            "best_arch": cells.to_json(base), "best": dataclasses.asdict(base_stats),
            "best_y": y[top[0]], "improved": improved, "trained": len(top), "failed": 0})
        if not go_on:
            break
    for name, lines in (("candidates.jsonl", candidates), ("rounds.jsonl", rounds_log)):
        with open(os.path.join(out_dir, name), "w") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
    round0 = search.Stats(**rounds_log[0]["best"])
    write_json(os.path.join(out_dir, "summary.json"), {
        "rounds": r, "best_arch": cells.to_json(base), "best": dataclasses.asdict(base_stats),
        "round0_best": dataclasses.asdict(round0),
        "y_vs_round0": search.memory_efficiency(base_stats, round0, lambda_),
        "trained": len(candidates)})
    return load_run(out_dir)


def lambda_runs(lambdas, root, scale=Scale(), log=print):
    """One scaled-down search per lambda into ROOT/lambda_LAM, run or resumed; their Runs."""
    return [scaled_search(os.path.join(root, f"lambda_{float(lam)}"), scale, float(lam), log)
            for lam in lambdas]


def runs_by_lambda(runs):
    """{lambda: Run}, sorted by lambda; ValueError if two runs share a lambda."""
    found = {}
    for run in runs:
        if run.lambda_ in found:
            raise ValueError(f"two searches with lambda {run.lambda_}: "
                             f"{found[run.lambda_].out_dir} and {run.out_dir}; give one")
        found[run.lambda_] = run
    return dict(sorted(found.items()))


def sweep(runs, lambdas, root, scale=Scale(), smoke=False, log=print):
    """The searches a figure plots and where they came from: ({lambda: Run}, note).

    `runs`: search.py out_dirs (or folders of them) to read, as given with --runs. Without them
    a scaled-down search per lambda is run (or resumed) into `root`, or with `smoke` a
    synthetic_search (no training; `scale` gives its rounds, k and filters).
    """
    if runs:
        return runs_by_lambda(find_runs(runs)), "search.py out_dirs given with --runs"
    if smoke:
        return ({float(lam): synthetic_search(os.path.join(root, f"lambda_{float(lam)}"),
                                              float(lam), scale.rounds, scale.k, scale.filters)
                 for lam in sorted(lambdas)},
                f"{SYNTHETIC}; exact p, r of real candidates at filters {scale.filters}")
    return (runs_by_lambda(lambda_runs(lambdas, root, scale, log)),
            f"scaled-down searches in {root}: {scale.describe()}")


def define_sweep_flags(name, runs_help):
    """The flags of a script that plots a lambda sweep: --runs, --out_dir, --smoke,
    --searches and the Scale of the searches it runs without --runs."""
    from absl import flags
    default = Scale()
    flags.DEFINE_list("runs", None, f"search.py out_dirs (or folders of them): {runs_help}; "
                      "default: run scaled-down searches into --searches.")
    flags.DEFINE_string("out_dir", f"runs/reproduce/{name}",
                        f"Where {name}.png and {name}.json go.")
    flags.DEFINE_bool("smoke", False, "Seconds: synthetic searches (exact memory, stand-in "
                      "accuracy, no training) into OUT_DIR/smoke_searches.")
    flags.DEFINE_string("searches", SEARCHES, "Where the scaled-down searches are run and "
                        "resumed (one out_dir per lambda), when --runs is not given.")
    flags.DEFINE_string("dataset", default.dataset, "Data of the searches: cifar10 (tfds) or "
                        "npz:PATH.")
    flags.DEFINE_integer("rounds", default.rounds, "Search rounds, round 0 included (paper: "
                         "until no improvement).")
    flags.DEFINE_integer("k", default.k, "Candidates trained per round (paper: 100).")
    flags.DEFINE_integer("epochs", default.epochs, "Training epochs per candidate (paper: 60).")
    flags.DEFINE_integer("filters", default.filters, "Filters of the first block (paper: 64).")
    flags.DEFINE_integer("train_examples", default.train_examples,
                         "Training images per candidate (default: all).")
    flags.DEFINE_integer("controller_epochs", default.controller_epochs,
                         "SCC training epochs per round.")
    flags.DEFINE_bool("run_eagerly", default.run_eagerly, "Train the candidates eagerly: "
                      "faster when each trains for only a few batches.")


def scale_from_flags(values):
    """The Scale that define_scale_flags' flags (parsed, in `values`) ask for."""
    return Scale(values.dataset, values.rounds, values.k, values.epochs, values.filters,
                 values.train_examples, values.controller_epochs, run_eagerly=values.run_eagerly)


def run_entry(run):
    """What the figures' JSON records of each search besides its numbers."""
    return {"lambda": run.lambda_, "out_dir": run.out_dir, "scale": run.scale(),
            "note": rounds_note(run)}


def describe_runs(by_lambda, source):
    """Lines saying where each search came from and how it was scaled down."""
    lines = [f"ours: {source}"]
    for lam, run in by_lambda.items():
        note = rounds_note(run)
        lines.append(f"  lambda {lam}: {run.out_dir}: {run.scale()}"
                     + (f"; {note}" if note else ""))
    return lines


def pyplot():
    """matplotlib.pyplot on the Agg backend: the scripts write PNGs, no display needed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    import matplotlib.pyplot as plt
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def rounds_note(run):
    """Says when a search has fewer rounds than it was asked for, and why."""
    asked, done = run.config["rounds"], len(run.rounds)
    if run.rounds and not run.rounds[-1]["improved"]:
        return (f"stopped after round {done - 1} of 0..{asked - 1}: no candidate of that round "
                f"improved y over its base (the base is kept)")
    if run.summary is None:
        return f"unfinished: {done} of {asked} rounds so far"
    return None if done >= asked else f"{done} of {asked} rounds"


def final_network(run):
    """{accuracy, r, p} of a run's final network (validation accuracy, bytes): summary.json's,
    or the last finished round's while the search is still going."""
    if run.summary is not None:
        return run.summary["best"]
    if not run.rounds:
        raise ValueError(f"{run.out_dir}: no finished round yet")
    return run.rounds[-1]["best"]
