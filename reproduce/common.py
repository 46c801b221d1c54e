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


def scaled_search(out_dir, dataset, lambda_, rounds, k, epochs, filters, train_examples=None,
                  seed=0, controller_epochs=30, log=print):
    """A scaled-down search.py run into out_dir (resumed if it exists); returns its Run."""
    import train
    data = train.load_data(dataset, None, 0.1, train_examples, seed)
    config = search.SearchConfig(lambda_=lambda_, rounds=rounds, k=k,
                                 controller_epochs=controller_epochs, list_size=100, seed=seed)
    train_config = train.TrainConfig(epochs=epochs, filters=filters, seed=seed, verbose=0)
    search.run(out_dir, data, config, train_config, log=log)
    return load_run(out_dir)
