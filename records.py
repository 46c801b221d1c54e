"""A search's out_dir: the typed records a search writes, and the only code that writes and
reads them.

    config.json            RunConfig: the settings; a resumed search must have the same ones
    selected_roundNN.json  Selection: round NN's top-k, written before any of it is trained
    candidates.jsonl       one Candidate per trained candidate, appended as each finishes
    rounds.jsonl           one Round per finished round
    base_roundNN.json      the network kept after round NN - 1 (an arch_json.py architecture file;
                           a NAS-Bench-201 string for --space=nb201)
    base_roundNN.keras     its trained model, with --inherit (round NN's candidates start from it)
    best_arch.json         the latest of them
    models/roundNN/        with --inherit, round NN's trained candidates until the round is done
    summary.json           Summary, when the search ends
    pareto.json, .png      the Pareto front of accuracy against p + r (pareto.py makes them)
    final/                 Final (result.json), model.keras and model.json: the final network
                           trained from scratch on training + validation data and tested;
                           backup_*/ while it trains (a kill resumes from its last epoch)
    scc.keras              the controller, retrained every round (search.py writes it)
    tensorboard/           per-round scalars (search.py writes them)

A kill loses nothing finished: each line of a .jsonl file is flushed to disk before the next
step, JSON files are replaced atomically, and a line cut short by a crash is dropped (with a
warning) before a search appends again. Readers of a search still running skip such a line.

Plain Python: readers.py reads searches back through this module without loading TensorFlow.
"""

import dataclasses
import hashlib
import os
import shutil

import cells
import guard
import nb201
import search_config
import spaces
from efficiency import Stats

FORMAT = 2  # 2: Stats as param_bytes / activation_bytes (1 had p / r), config sections


# ---------------------------------------------------------------------------------------------
# The records
# ---------------------------------------------------------------------------------------------

# Settings added after out_dirs of this format were written, and what an out_dir without them
# computed: a config without one means this value. (A None default needs no entry.)
ADDED_LATER = {"train.mixed_precision": "float32", "train.recipe": "paper",
               "train.nesterov": False, "train.lr_schedule": "sgdr",
               "train.warmup_fraction": 0.0, "train.label_smoothing": 0.0,
               "train.bn_momentum": 0.99, "train.bn_recalibration": 0}


# The `evaluation` of an out_dir that holds round 0 for several searches
# (evaluation.SharedRound0): not a search of its own, so readers.find_runs passes it by.
SHARED_ROUND0 = "round 0, shared by the arms"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """config.json: the search's settings, its training recipe (recipes.TrainConfig as a dict),
    the data set's name, how candidates were evaluated (the evaluator's description) and the
    starting network's key (None: round 0)."""
    search: search_config.SearchConfig
    train: dict
    data: str
    evaluation: str
    base: str | None = None

    def to_json(self):
        return {"format": FORMAT, "search": dataclasses.asdict(self.search),
                "train": dict(self.train), "data": self.data, "evaluation": self.evaluation,
                "base": self.base}

    @classmethod
    def from_json(cls, data):
        return cls(search_config.SearchConfig(**data["search"]), data["train"], data["data"],
                   data["evaluation"], data["base"])


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One line of candidates.jsonl: a trained candidate (y None unless status is "ok").

    reused_from: the round whose accuracy of the same network was reused instead of training
    it again (a trim can undo an earlier growth), or None.
    """
    round: int
    key: str
    arch: cells.Arch | nb201.Cell
    val_accuracy: float | None
    param_bytes: int
    activation_bytes: int
    y: float | None
    seconds: float
    status: str
    reused_from: int | None = None

    @property
    def ok(self):
        return self.status == "ok"

    @property
    def stats(self):
        return Stats(self.val_accuracy, self.param_bytes, self.activation_bytes)

    def to_json(self):
        return {**_fields(self), "arch": spaces.to_json(self.arch)}

    @classmethod
    def from_json(cls, data):
        return cls(**{**data, "arch": spaces.from_json(data["arch"])})


@dataclasses.dataclass(frozen=True)
class Round:
    """One line of rounds.jsonl: a finished round.

    base: the `pre` of Eq. 4 in this round (round 0: chance accuracy and median memory);
    best: the network kept after it, the next round's base (the old base when no candidate
    improved y, which ends the search); excluded: the round's candidates over the memory
    budget (SearchConfig.max_param_bytes, max_activation_bytes), never ranked nor trained.
    """
    round: int
    base_arch: cells.Arch | nb201.Cell | None
    base: Stats
    best_key: str
    best_arch: cells.Arch | nb201.Cell
    best: Stats
    best_y: float
    improved: bool
    trained: int
    failed: int
    excluded: int = 0  # candidates over the memory budget, never ranked (older out_dirs: 0)

    def to_json(self):
        return {**_fields(self), "base": _stats_json(self.base), "best": _stats_json(self.best),
                "base_arch": None if self.base_arch is None else spaces.to_json(self.base_arch),
                "best_arch": spaces.to_json(self.best_arch)}

    @classmethod
    def from_json(cls, data):
        return cls(**{**data, "base": Stats(**data["base"]), "best": Stats(**data["best"]),
                      "base_arch": None if data["base_arch"] is None else
                      spaces.from_json(data["base_arch"]),
                      "best_arch": spaces.from_json(data["best_arch"])})


@dataclasses.dataclass(frozen=True)
class Selection:
    """selected_roundNN.json: the keys a round trains, best first, and how they were ranked."""
    round: int
    ranked_by: str
    selected: tuple
    scores: tuple

    def to_json(self):
        return {**_fields(self), "selected": list(self.selected), "scores": list(self.scores)}

    @classmethod
    def from_json(cls, data):
        return cls(data["round"], data["ranked_by"], tuple(data["selected"]),
                   tuple(data["scores"]))


@dataclasses.dataclass(frozen=True)
class Final:
    """final/result.json: the final network (key) trained from scratch for `epochs` on
    training + validation data and tested on the test split; test_accuracy None unless status
    is "ok" (train.TrainResult's statuses)."""
    key: str
    test_accuracy: float | None
    param_bytes: int
    activation_bytes: int
    epochs: int
    seconds: float
    status: str
    # export.Exported's fields: the int8 .tflite beside the model (final/model_int8.tflite) and
    # the arena TFLite-Micro allocates for it; None when not exported (search.py
    # --noexport_final, or a search from before export.py).
    deployed: dict | None = None

    @property
    def ok(self):
        return self.status == "ok"

    @property
    def stats(self):
        """Stats with the test accuracy (None unless "ok")."""
        return Stats(self.test_accuracy, self.param_bytes, self.activation_bytes)

    def to_json(self):
        return _fields(self)

    @classmethod
    def from_json(cls, data):
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class Summary:
    """summary.json: the final network, the round-0 best, and y of the one against the other
    (Eq. 4, validation accuracies); rounds: how many rounds ran; seconds: this process's share
    of the search; final: the final network trained and tested (None: --final_epochs=0)."""
    rounds: int
    best_arch: cells.Arch | nb201.Cell
    best: Stats
    round0_best: Stats
    y_vs_round0: float
    trained: int
    seconds: float
    final: Final | None = None

    def to_json(self):
        return {**_fields(self), "best_arch": spaces.to_json(self.best_arch),
                "best": _stats_json(self.best), "round0_best": _stats_json(self.round0_best),
                "final": None if self.final is None else self.final.to_json()}

    @classmethod
    def from_json(cls, data):
        final = data.get("final")
        return cls(**{**data, "best_arch": spaces.from_json(data["best_arch"]),
                      "best": Stats(**data["best"]), "round0_best": Stats(**data["round0_best"]),
                      "final": None if final is None else Final.from_json(final)})


def _fields(record):
    """The record's fields as a dict, shallow (dataclasses.asdict would also turn an Arch into
    nested tuples)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def _stats_json(stats):
    return dataclasses.asdict(stats)


# ---------------------------------------------------------------------------------------------
# The out_dir
# ---------------------------------------------------------------------------------------------

class OutDir:
    """A search's out_dir, for the search that writes it (search.run) and for readers.

    Opening one creates the directory; a path that is a file is a ValueError naming it.
    """

    def __init__(self, path):
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"--out_dir: {path} is a file, not a directory")
        os.makedirs(path, exist_ok=True)
        self.path = path

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def controller_path(self):
        return self.file("scc.keras")

    @property
    def tensorboard_dir(self):
        return self.file("tensorboard")

    def start(self, config, may_change=(), log=print):
        """Write config.json, or check it against the one a search left here; then drop a
        line cut short by a crash from the logs so appending can go on.

        may_change: "section.field" names that may differ on resume (e.g. "search.rounds",
        "train.verbose"): how long or how a search runs, not what it computes.
        """
        old = self.config()
        if old is not None:
            before = {**ADDED_LATER, **_flat(old.to_json())}
            now = {**ADDED_LATER, **_flat(config.to_json())}
            changed = [f"{name}: {before.get(name)!r} before, {now.get(name)!r} now"
                       for name in sorted(set(before) | set(now))
                       if name not in may_change and before.get(name) != now.get(name)]
            if changed:
                raise ValueError(f"{self.path} holds a search with other settings ("
                                 + "; ".join(changed) + "); use another --out_dir")
        guard.write_json(self.file("config.json"), config.to_json())
        for name in ("candidates.jsonl", "rounds.jsonl"):
            guard.drop_cut_line(self.file(name), log)

    def train_added_later(self):
        """{train field: value} of the ADDED_LATER training settings that config.json lacks:
        what this out_dir computed with (e.g. bn_momentum 0.99); empty for a new out_dir."""
        config = self.config()
        if config is None:
            return {}
        return {name[len("train."):]: value for name, value in ADDED_LATER.items()
                if name.startswith("train.") and name[len("train."):] not in config.train}

    def config(self):
        """The RunConfig of config.json, or None if there is none yet."""
        path = self.file("config.json")
        if not os.path.isfile(path):
            return None
        data = guard.read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format", 1) if isinstance(data, dict) else "unknown"
            raise ValueError(f"{path}: out_dir format {found}, this version reads format "
                             f"{FORMAT}; rerun that search into another --out_dir")
        return RunConfig.from_json(data)

    def candidates(self):
        return [Candidate.from_json(d) for d in guard.read_jsonl(self.file("candidates.jsonl"))]

    def append_candidate(self, candidate):
        guard.append_jsonl(self.file("candidates.jsonl"), candidate.to_json())

    def rounds(self):
        return [Round.from_json(d) for d in guard.read_jsonl(self.file("rounds.jsonl"))]

    def append_round(self, round_record):
        guard.append_jsonl(self.file("rounds.jsonl"), round_record.to_json())

    def selection(self, round_index):
        """The round's Selection, or None if it has not been made yet."""
        path = self.file(f"selected_round{round_index:02d}.json")
        return Selection.from_json(guard.read_json(path)) if os.path.exists(path) else None

    def write_selection(self, selection):
        guard.write_json(self.file(f"selected_round{selection.round:02d}.json"),
                         selection.to_json())

    def save_base(self, arch, round_index):
        """The network kept after `round_index`: base_round{NN}.json with NN = round_index + 1
        (the round it is the base of), and best_arch.json."""
        for name in (f"base_round{round_index + 1:02d}.json", "best_arch.json"):
            spaces.save(arch, self.file(name))

    def model_path(self, round_index, key):
        """Where a candidate of round `round_index` trained with --inherit keeps its model (and
        its architecture beside it) until the round is done."""
        folder = self.file(os.path.join("models", f"round{round_index:02d}"))
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{short_name(key)}.keras")

    def log_path(self, round_index, key):
        """Where the Keras output of a candidate trained by a parallel worker goes
        (logs/roundNN_<hash>.log; the hash is its model file's)."""
        os.makedirs(self.file("logs"), exist_ok=True)
        return self.file(os.path.join("logs", f"round{round_index:02d}_{short_name(key)}.log"))

    def base_model_path(self, round_index):
        """The trained model of round `round_index`'s base, or None if none was kept (round 0,
        a search without --inherit)."""
        path = self.file(f"base_round{round_index:02d}.keras")
        return path if os.path.isfile(path) else None

    def keep_base_model(self, round_index, key):
        """Keep the model of round `round_index`'s candidate `key` as the next round's base
        (base_round{NN+1}.keras, atomically); its architecture is save_base's .json."""
        source = self.model_path(round_index, key)
        if not os.path.isfile(source):
            raise ValueError(f"{source}: the trained model of the round's best candidate is "
                             "missing; an evaluator for --inherit must save every model")
        path = self.file(f"base_round{round_index + 1:02d}.keras")
        guard.replace_atomically(path, lambda tmp: shutil.copyfile(source, tmp))

    def drop_models(self, round_index):
        """Remove round `round_index`'s candidate models, once its base is kept."""
        shutil.rmtree(self.file(os.path.join("models", f"round{round_index:02d}")),
                      ignore_errors=True)

    @property
    def final_dir(self):
        os.makedirs(self.file("final"), exist_ok=True)
        return self.file("final")

    @property
    def final_model_path(self):
        return os.path.join(self.final_dir, "model.keras")

    def final_backup(self, key, epochs):
        """Where the final training of network `key` for `epochs` keeps its state after every
        epoch until it ends (train.train's backup_dir): a kill resumes only that training."""
        return os.path.join(self.final_dir, f"backup_{short_name(key)}_e{epochs}")

    def final(self):
        """The Final of final/result.json, or None."""
        path = self.file(os.path.join("final", "result.json"))
        return Final.from_json(guard.read_json(path)) if os.path.exists(path) else None

    def write_final(self, final):
        os.makedirs(self.file("final"), exist_ok=True)
        guard.write_json(self.file(os.path.join("final", "result.json")), final.to_json())

    def write_pareto(self, data):
        """pareto.json: the front of the search so far (pareto.py's `to_json`)."""
        guard.write_json(self.file("pareto.json"), data)

    @property
    def pareto_png(self):
        return self.file("pareto.png")

    def summary(self):
        path = self.file("summary.json")
        return Summary.from_json(guard.read_json(path)) if os.path.exists(path) else None

    def write_summary(self, summary):
        guard.write_json(self.file("summary.json"), summary.to_json())


def _flat(data, prefix=""):
    """{"section.field": value} of a nested dict, for naming what changed."""
    out = {}
    for name, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def short_name(text):
    """A short file name for a long text (a network's key, arch_json.key; a training's
    settings), the same in every process."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
