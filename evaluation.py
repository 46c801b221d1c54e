"""The evaluator seam between the search and whatever trains its candidates.

search.py hands an evaluator one ``Job`` per round (the candidates to train, ``Measured``, with
the round's base and seed) and records one ``Outcome`` per candidate, in whatever order they
come back. ``TrainEvaluator`` trains them one after the other in this process; parallel.py's
``RayEvaluator`` trains several at once in Ray tasks; ``TableEvaluator`` trains nothing and
looks each candidate up in a benchmark's table (NAS-Bench-201); ``SharedRound0`` trains round 0
once for several searches that share it; reproduce/ and bench/ stand in evaluators that train
nothing. Every evaluator seeds a candidate with ``candidate_seed``, so that where it trains
does not change what it measures.
"""

import dataclasses
import hashlib
import shutil

import cells
import nb201
import records
import search_config
import train
from efficiency import Stats


@dataclasses.dataclass(frozen=True)
class Measured:
    """A candidate of the round: its key (its space's), architecture and exact memory."""
    key: str
    arch: cells.Arch | nb201.Cell
    memory: Stats  # accuracy None: not trained


@dataclasses.dataclass(frozen=True)
class Job:
    """What an evaluator gets for one round: the candidates to train (Measured, best-ranked
    first), the round's base network (None in round 0) and, with --inherit, its trained model
    (a .keras path; None in round 0), the out_dir and the search's seed."""
    round: int
    candidates: tuple
    base: cells.Arch | nb201.Cell | None
    out_dir: str
    seed: int
    base_model: str | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an evaluator yields per candidate: validation accuracy (None unless status "ok"),
    train.TrainResult's status, and the seconds it took."""
    key: str
    val_accuracy: float | None
    status: str
    seconds: float


def candidate_seed(seed, key):
    """A seed per candidate, the same in every process (unlike hash()) and in every order."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") % (2 ** 31)


def describe_training(train_config, inherit):
    """How an evaluator that trains trains, as config.json records it (the same however many
    processes train, so that a search may resume with another number of workers)."""
    epochs = train_config.epochs
    return (f"inherited from the base, fine-tuned {epochs} epochs (round 0: from scratch)"
            if inherit else f"trained from scratch, {epochs} epochs")


class TrainEvaluator:
    """The default evaluator: each candidate trained, one after the other, in this process
    (train.train with the candidate's own seed): from scratch, or with `inherit` from the job's
    base model (round 0 and a job without one: from scratch), saving every trained model in the
    out_dir for the round's best to become the next base."""

    def __init__(self, data, train_config, inherit=False):
        self.data, self.train_config, self.inherit = data, train_config, inherit
        self.description = describe_training(train_config, inherit)

    def __call__(self, job):
        out = records.OutDir(job.out_dir)
        parent = train.load_model(job.base_model) if self.inherit and job.base_model else None
        for candidate in job.candidates:
            config = dataclasses.replace(self.train_config,
                                         seed=candidate_seed(job.seed, candidate.key))
            start = None if parent is None else train.Inheriting(
                *parent, candidate.arch, config, self.data)
            result = train.train(candidate.arch, self.data, config, start=start,
                                 model_path=out.model_path(job.round, candidate.key)
                                 if self.inherit else None)
            yield Outcome(candidate.key, result.val_accuracy, result.status, result.seconds)


class TableEvaluator:
    """Each candidate's accuracy looked up in a NAS-Bench-201 table (a CSV with an ``arch``
    column of the benchmark's strings and the `column` asked for), nothing trained: the
    search's cost is its number of queries, one per candidate. A percentage column (values
    above 1) is divided by 100, so that accuracies are in [0, 1] as a trained candidate's."""

    def __init__(self, path, column=nb201.ACCURACY_COLUMN):
        found, values = nb201.read_csv(path, column)
        percent = float(values.max()) > 1
        self.accuracy = {cell: float(v) / 100 if percent else float(v)
                         for cell, v in zip(found, values)}
        self.description = (f"looked up in {path}, column {column}"
                             + (" (percent, / 100)" if percent else "") + "; nothing trained")

    def __call__(self, job):
        for candidate in job.candidates:
            accuracy = self.accuracy.get(candidate.arch)
            if accuracy is None:
                yield Outcome(candidate.key, None, "error: KeyError: not in the table", 0.0)
            else:
                yield Outcome(candidate.key, accuracy, "ok", 0.0)


class SharedRound0:
    """An evaluator for several searches that differ only after round 0 (the arms of a
    benchmark, the lambdas of a sweep): round 0 is trained once, in `cache_dir`, and read from
    there by every search; later rounds go to `later` (None: a TrainEvaluator). `round0`: what
    trains round 0 (None: a TrainEvaluator that saves every model).

    Round 0 trains from scratch with each candidate's own seed whatever the search's lambda,
    strategy or k, so a search gets what it would have trained itself: a cache, not a change of
    results. The cache's config.json holds the training recipe, and a search with another one
    is refused (records.OutDir.start, with `may_change` the settings allowed to differ). Round 0
    trains here, one candidate after the other, saving each model, which is copied into the
    search's out_dir where an `inherit` search keeps its base.
    """

    def __init__(self, cache_dir, data, train_config, inherit, may_change=(), later=None,
                 round0=None):
        self.later = later or TrainEvaluator(data, train_config, inherit)
        self.round0 = round0 or TrainEvaluator(data, train_config, inherit=True)
        self.description = getattr(self.later, "description", None)
        self.inherit = inherit
        self.cache = records.OutDir(cache_dir)
        self.cache.start(records.RunConfig(search_config.SearchConfig(seed=train_config.seed),
                                           dataclasses.asdict(train_config), data.name,
                                           records.SHARED_ROUND0), may_change)

    def __call__(self, job):
        if job.round > 0:
            yield from self.later(job)
            return
        done = {c.key: c for c in self.cache.candidates()}
        for candidate in job.candidates:
            if candidate.key not in done:
                outcome, = self.round0(dataclasses.replace(job, candidates=(candidate,),
                                                           out_dir=self.cache.path))
                done[candidate.key] = record = records.Candidate(
                    round=0, key=candidate.key, arch=candidate.arch,
                    val_accuracy=outcome.val_accuracy,
                    param_bytes=candidate.memory.param_bytes,
                    activation_bytes=candidate.memory.activation_bytes, y=None,
                    seconds=round(outcome.seconds, 3), status=outcome.status)
                self.cache.append_candidate(record)
            record = done[candidate.key]
            if self.inherit and record.ok:
                source = self.cache.model_path(0, candidate.key)
                target = records.OutDir(job.out_dir).model_path(0, candidate.key)
                for ending in (".keras", ".json"):
                    shutil.copyfile(source[:-len(".keras")] + ending,
                                    target[:-len(".keras")] + ending)
            yield Outcome(candidate.key, record.val_accuracy, record.status, record.seconds)
