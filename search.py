"""The MemNAS search loop (paper Figure 1a, Sections 3.1-3.4, Eq. 4; SPEC §7).

One round:

1. generate candidates from the base by growing and trimming it (round 0: the one-cell
   networks), one per distinct network;
2. compute every candidate's parameter memory p and intermediate memory r (exact and cheap);
3. rank them with the structure correlation controller (SCC), or, before it has seen any data,
   by the memory terms of Eq. 4, and keep the top k. In the paper the SCC predicts y itself
   (``--controller_target=y``); by default here it predicts the accuracy only and candidates
   are ranked by Eq. 4 of that prediction and their exact p and r, which the SCC would
   otherwise have to learn from a handful of examples per round;
4. train the top k and score each with the memory-efficiency metric y of Eq. 4 against the base;
5. the best becomes the next base;
6. train the SCC on every candidate trained so far (Eq. 3, MSE against y or the accuracy).

It stops after ``rounds`` rounds or when no candidate of a round improves y (y <= 0).

**The sign of Eq. 4.** The paper prints the memory terms as ``(r_i - r_pre) / r_pre``, which
rewards *more* memory and contradicts its own text ("lambda = 0 makes MemNAS solely aiming to
minimize the memory requirement"). The authors' code uses the reduction, and so does this file:

    y = lambda * (a - a_pre) / a_pre + (1 - lambda) * ((r_pre - r) / r_pre + (p_pre - p) / p_pre)

``a`` is accuracy on a validation split held out of the training data, never the test split.
Round 0 has no base network; it is scored against a reference network with chance accuracy and
the median memory of the round-0 candidates.

Everything is written to ``out_dir`` as it happens, and rerunning with the same ``out_dir``
resumes: each round's top-k is recorded before training starts, each trained candidate is one
line of ``candidates.jsonl``, and the controller is retrained from that file with a fixed seed,
so nothing already trained is trained again and a resumed search ends where an uninterrupted
one would.

    python search.py --lambda_=0.5 --dataset=cifar10 --out_dir=runs/lambda05
"""

import dataclasses
import hashlib
import json
import os
import statistics
import sys
import time

from absl import app
from absl import flags

import cells
import grow_trim
import lifetime


CONTROLLER_TARGETS = ("accuracy", "y")


def define_flags():
    """The command line; defined only when this file runs as a script (see lifetime.py)."""
    flags.DEFINE_float("lambda_", 0.5, "Trade-off of Eq. 4: 1 = accuracy only, 0 = memory only.")
    flags.DEFINE_string("dataset", "cifar10", "cifar10, imagenet2012 (tfds) or npz:PATH.")
    flags.DEFINE_string("data_dir", None, "tensorflow-datasets data directory.")
    flags.DEFINE_integer("rounds", 10, "Search rounds, round 0 included.")
    flags.DEFINE_integer("k", 100, "Candidates trained per round (top-k of the ranking).")
    flags.DEFINE_integer("epochs", 60, "Training epochs per candidate.")
    flags.DEFINE_integer("batch_size", 128, "Training batch size.")
    flags.DEFINE_float("learning_rate", 0.01, "SGD learning rate (cosine decay, warm restarts).")
    flags.DEFINE_integer("filters", 64, "Filters of the first block (w).")
    flags.DEFINE_integer("train_examples", None, "Use only this many training images.")
    flags.DEFINE_float("val_fraction", 0.1, "Share of the training data held out for selection.")
    flags.DEFINE_string("out_dir", "runs/search", "Where the search writes and resumes.")
    flags.DEFINE_string("base", None, "Start from this architecture (JSON) instead of round 0.")
    flags.DEFINE_integer("bytes", 4, "Bytes per value for p and r (4 = float32).")
    flags.DEFINE_enum("schedule", "paper", lifetime.SCHEDULES, "Lifetime schedule for r.")
    flags.DEFINE_integer("controller_epochs", 100, "SCC training epochs per round.")
    flags.DEFINE_integer("list_size", 100, "Candidates the SCC ranks together.")
    flags.DEFINE_enum("controller_target", "accuracy", CONTROLLER_TARGETS,
                      "What the SCC learns: 'accuracy' (rank by Eq. 4 with predicted accuracy "
                      "and exact p, r) or 'y' (the paper: Eq. 3, the SCC predicts y itself).")
    flags.DEFINE_integer("seed", 0, "Seed of training, controller and data split.")
    flags.DEFINE_integer("verbose", 0, "Keras verbosity while training a candidate.")
    flags.DEFINE_bool("run_eagerly", False, "Train candidates eagerly: faster when each trains "
                      "for only a few batches (scaled-down searches), slower otherwise.")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything a search depends on besides the data; written to out_dir/config.json."""
    lambda_: float = 0.5
    rounds: int = 10
    k: int = 100
    bytes_per_value: int = 4
    schedule: str = "paper"
    controller_epochs: int = 100
    list_size: int = 100
    seed: int = 0
    controller_target: str = "accuracy"

    def check(self):
        """One ValueError per bad setting, naming the flag."""
        if not 0.0 <= self.lambda_ <= 1.0:
            raise ValueError(f"--lambda_ must be in [0, 1], got {self.lambda_}")
        for name in ("rounds", "k", "bytes_per_value", "controller_epochs", "list_size"):
            if getattr(self, name) < 1:
                flag = "bytes" if name == "bytes_per_value" else name
                raise ValueError(f"--{flag} must be at least 1, got {getattr(self, name)}")
        if self.controller_target not in CONTROLLER_TARGETS:
            raise ValueError(f"--controller_target must be one of "
                             f"{', '.join(CONTROLLER_TARGETS)}, got {self.controller_target!r}")
        return self


@dataclasses.dataclass(frozen=True)
class Stats:
    """What Eq. 4 compares: validation accuracy a, intermediate bytes r, parameter bytes p."""
    accuracy: float
    r: int
    p: int


def memory_efficiency(candidate, pre, lambda_):
    """Eq. 4 with the reduction sign: > 0 when the candidate beats the base `pre`.

    With no accuracy (a candidate not trained yet) only the memory terms count, which is how
    candidates are ranked before the controller has seen any data.
    """
    memory = (pre.r - candidate.r) / pre.r + (pre.p - candidate.p) / pre.p
    if candidate.accuracy is None:
        return (1 - lambda_) * memory
    return lambda_ * (candidate.accuracy - pre.accuracy) / pre.accuracy + (1 - lambda_) * memory


def rank_scores(memories, pre, lambda_, predictions=None, target="accuracy"):
    """The score each candidate is ranked by, before it is trained.

    memories: (r, p) per candidate, exact. predictions: the controller's output per candidate,
    or None before it has seen data, when only the memory terms of Eq. 4 count. With target
    "y" (the paper) the controller predicts y itself; with "accuracy" it predicts only the
    accuracy, and y is Eq. 4 of that prediction and the exact memory terms, so the ranking
    never has to learn what it can compute.
    """
    if predictions is None:
        return [memory_efficiency(Stats(None, *mem), pre, lambda_) for mem in memories]
    if target == "y":
        return [float(y) for y in predictions]
    return [memory_efficiency(Stats(float(a), *mem), pre, lambda_)
            for a, mem in zip(predictions, memories)]


def key(arch):
    """A network's identity across rounds and runs: its canonical form as compact JSON."""
    return json.dumps(cells.to_json(cells.canonical(arch)), separators=(",", ":"))


def _seed(seed, text):
    """A seed per candidate, stable across processes (unlike hash())."""
    digest = hashlib.blake2b(f"{seed}:{text}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") % (2 ** 31)


# ---------------------------------------------------------------------------------------------
# out_dir: append-only logs that survive a kill
# ---------------------------------------------------------------------------------------------

def _append(path, record):
    """One JSON line, flushed to disk before returning: a kill loses nothing finished."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _write_json(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def drop_cut_line(path, log=print):
    """Remove a last line cut short by a crash, with a warning, so appending can go on."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            log(f"warning: {path}: skipping its last line, cut short by an earlier crash: "
                f"{data[keep:][:60]!r}")
            f.truncate(keep)


def read_jsonl(path):
    """The records of a JSON-lines file (after drop_cut_line, every line is whole)."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ValueError(f"{path}: line {n} is not JSON") from None
    return records


def _check_config(out_dir, settings):
    """A resumed search must have the settings it started with, except how many rounds and
    how training runs (train.EXECUTION_ONLY)."""
    import train
    path = os.path.join(out_dir, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)

        def results_depend_on(name, value):
            if name == "train" and isinstance(value, dict):
                return {k: v for k, v in value.items() if k not in train.EXECUTION_ONLY}
            return value

        changed = [f"{k}: {old.get(k)!r} before, {v!r} now" for k, v in settings.items()
                   if k != "rounds" and results_depend_on(k, old.get(k))
                   != results_depend_on(k, v)]
        if changed:
            raise ValueError(f"{out_dir} holds a search with other settings ("
                             + "; ".join(changed) + "); use another --out_dir")
    _write_json(path, settings)


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Summary:
    """The outcome, also written to out_dir/summary.json."""
    rounds: int
    best_arch: cells.Arch
    best: Stats
    round0_best: Stats
    y_vs_round0: float  # the final network scored by Eq. 4 against the round-0 best
    trained: int
    seconds: float


def run(out_dir, data, config, train_config, base=None, log=print):
    """Search, writing to `out_dir`; resumes what `out_dir` already holds.

    `data` comes from train.load_data, `train_config` is a train.TrainConfig (its seed is
    replaced per candidate), `base` an optional starting architecture instead of round 0.
    """
    import train

    config.check()
    os.makedirs(out_dir, exist_ok=True)
    _check_config(out_dir, {**dataclasses.asdict(config), "train": dataclasses.asdict(train_config),
                            "data": data.name, "base": None if base is None else key(base)})
    paths = {name: os.path.join(out_dir, name) for name in
             ("candidates.jsonl", "rounds.jsonl", "best_arch.json", "scc.keras", "summary.json")}
    for name in ("candidates.jsonl", "rounds.jsonl"):
        drop_cut_line(paths[name], log)
    records = read_jsonl(paths["candidates.jsonl"])
    rounds_done = read_jsonl(paths["rounds.jsonl"])
    trained = {(rec["round"], rec["key"]): rec for rec in records}
    accuracy_of = {rec["key"]: rec for rec in records if rec["status"] == "ok"}
    writer = _summary_writer(out_dir)
    start = time.time()

    def measure(arch):
        memory = lifetime.arch_memory(arch, train_config.filters, config.bytes_per_value,
                                      config.schedule, data.input_shape, data.num_classes)
        return memory.activation_bytes, memory.param_bytes

    start_from = base  # a given base is round 0's only candidate: its accuracy is unknown
    base_stats = round0_best = None
    for r in range(config.rounds):
        if rounds_done and rounds_done[0]["round"] == r:  # finished before a restart
            done = rounds_done.pop(0)
            base = cells.from_json(done["best_arch"])
            base_stats = Stats(**done["best"])
            round0_best = round0_best or base_stats
            if not done["improved"]:
                break
            continue
        if r == 0 and start_from is not None:
            generation = grow_trim.Generation((cells.canonical(start_from),), (), 1, 0)
        else:
            generation = grow_trim.generate(None if r == 0 else base)
        # One per distinct network, in canonical form (round 0's 49 encodings are 28 networks).
        candidates = list({key(a): cells.canonical(a) for a in generation.candidates}.items())
        round_base = None if r == 0 else base
        memories = [measure(arch) for _, arch in candidates]
        if r == 0:
            pre = Stats(1.0 / data.num_classes, statistics.median(m[0] for m in memories),
                        statistics.median(m[1] for m in memories))
        else:
            pre = base_stats
        selected = _select(out_dir, r, candidates, memories, pre, config, records, log)
        log(f"round {r}: {len(candidates)} candidates (grow {generation.counts()['grow']}, "
            f"trim {generation.counts()['trim']}), training the top {len(selected)}")
        results = []
        for n, (cand_key, arch, (act, par)) in enumerate(selected, start=1):
            record = trained.get((r, cand_key))
            if record is None:
                record = _train_one(r, cand_key, arch, act, par, pre, data, config,
                                    train_config, accuracy_of, train)
                _append(paths["candidates.jsonl"], record)
                trained[(r, cand_key)] = record
                records.append(record)
                if record["status"] == "ok":
                    accuracy_of.setdefault(cand_key, record)
                log(_progress(record, n, len(selected)))
            else:
                log(_progress(record, n, len(selected)) + "  (already trained)")
            results.append(record)
        ok = [rec for rec in results if rec["status"] == "ok"]
        if not ok:
            raise RuntimeError(f"round {r}: every candidate failed; see {paths['candidates.jsonl']}")
        best = max(ok, key=lambda rec: rec["y"])
        improved = r == 0 or best["y"] > 0
        if improved:
            base = cells.from_json(best["arch"])
            base_stats = Stats(best["val_accuracy"], best["activation_bytes"], best["param_bytes"])
        round0_best = round0_best or base_stats
        _train_controller(records, paths["scc.keras"], config, r, log)
        cells.save(base, os.path.join(out_dir, f"base_round{r + 1:02d}.json"))
        cells.save(base, paths["best_arch.json"])
        _append(paths["rounds.jsonl"], {
            "round": r, "base_arch": None if round_base is None else cells.to_json(round_base),
            "base": dataclasses.asdict(pre), "best_key": best["key"],
            "best_arch": cells.to_json(base), "best": dataclasses.asdict(base_stats),
            "best_y": best["y"], "improved": improved, "trained": len(results),
            "failed": len(results) - len(ok)})
        _scalars(writer, r, best, base_stats)
        log(f"round {r} done: best y {best['y']:+.4f}, val acc {best['val_accuracy']:.4f}, "
            f"p {best['param_bytes'] / 2**20:.3f} MiB, r {best['activation_bytes'] / 2**20:.3f} MiB"
            + ("" if improved else "; no candidate improves y, stopping"))
        if not improved:
            break
    summary = Summary(r, base, base_stats, round0_best,
                      memory_efficiency(base_stats, round0_best, config.lambda_),
                      len(records), time.time() - start)
    _write_json(paths["summary.json"], {
        "rounds": summary.rounds, "best_arch": cells.to_json(summary.best_arch),
        "best": dataclasses.asdict(summary.best), "round0_best": dataclasses.asdict(round0_best),
        "y_vs_round0": summary.y_vs_round0, "trained": summary.trained,
        "seconds_this_run": summary.seconds})
    return summary


def _select(out_dir, r, candidates, memories, pre, config, records, log):
    """The round's top-k as (key, arch, (r, p)); recorded before training so a resume
    trains the same ones."""
    path = os.path.join(out_dir, f"selected_round{r:02d}.json")
    by_key = {k: (k, arch, mem) for (k, arch), mem in zip(candidates, memories)}
    if os.path.exists(path):
        with open(path) as f:
            return [by_key[k] for k in json.load(f)["selected"]]
    predictions = None
    how = "memory terms of Eq. 4"
    if any(rec["status"] == "ok" for rec in records):
        import scc
        controller = scc.Controller.load(os.path.join(out_dir, "scc.keras"))
        predictions = controller.predict([arch for _, arch in candidates])
        how = ("controller (predicted y)" if config.controller_target == "y" else
               "controller (Eq. 4 of predicted accuracy and exact memory)")
    scores = rank_scores(memories, pre, config.lambda_, predictions, config.controller_target)
    order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))[:config.k]
    _write_json(path, {"round": r, "ranked_by": how,
                       "selected": [candidates[i][0] for i in order],
                       "scores": [float(scores[i]) for i in order]})
    log(f"round {r}: ranked {len(candidates)} candidates by the {how}")
    return [by_key[candidates[i][0]] for i in order]


def _train_one(r, cand_key, arch, act, par, pre, data, config, train_config, accuracy_of, train):
    """Train one candidate (or reuse the accuracy of the same network from an earlier round)."""
    start = time.time()
    earlier = accuracy_of.get(cand_key)
    if earlier is not None:
        accuracy, status, reused = earlier["val_accuracy"], "ok", earlier["round"]
    else:
        seeded = dataclasses.replace(train_config, seed=_seed(config.seed, cand_key))
        result = train.train(arch, data, seeded)
        accuracy, status, reused = result.val_accuracy, result.status, None
    y = None
    if status == "ok":
        y = memory_efficiency(Stats(accuracy, act, par), pre, config.lambda_)
    return {"round": r, "key": cand_key, "arch": cells.to_json(arch), "val_accuracy": accuracy,
            "param_bytes": par, "activation_bytes": act, "y": y,
            "seconds": round(time.time() - start, 3), "status": status, "reused_from": reused}


def _train_controller(records, path, config, r, log):
    """A fresh SCC on every candidate trained so far, seeded by round: reproducible on resume.

    Its target is y (Eq. 3) or the validation accuracy (config.controller_target); accuracy
    means the same in every round, while y is measured against each round's own base.
    """
    import scc
    ok = [rec for rec in records if rec["status"] == "ok"]
    target = "val_accuracy" if config.controller_target == "accuracy" else "y"
    controller = scc.Controller(kind="scc", list_size=config.list_size, seed=config.seed + r)
    controller.fit([cells.from_json(rec["arch"]) for rec in ok], [rec[target] for rec in ok],
                   epochs=config.controller_epochs)
    controller.save(path)
    log(f"round {r}: controller trained on {len(ok)} candidates")


def _progress(record, n, total):
    if record["status"] != "ok":
        return f"  [{n}/{total}] {record['status']} ({record['seconds']:.1f}s)"
    return (f"  [{n}/{total}] val acc {record['val_accuracy']:.4f}  "
            f"p {record['param_bytes'] / 2**20:.3f} MiB  "
            f"r {record['activation_bytes'] / 2**20:.3f} MiB  y {record['y']:+.4f}  "
            f"({record['seconds']:.1f}s)")


def _summary_writer(out_dir):
    import tensorflow as tf
    return tf.summary.create_file_writer(os.path.join(out_dir, "tensorboard"))


def _scalars(writer, r, best, stats):
    import tensorflow as tf
    with writer.as_default(step=r):
        tf.summary.scalar("best/y", best["y"])
        tf.summary.scalar("best/val_accuracy", stats.accuracy)
        tf.summary.scalar("best/param_bytes", stats.p)
        tf.summary.scalar("best/activation_bytes", stats.r)
    writer.flush()


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    config = SearchConfig(FLAGS.lambda_, FLAGS.rounds, FLAGS.k, FLAGS.bytes, FLAGS.schedule,
                          FLAGS.controller_epochs, FLAGS.list_size, FLAGS.seed,
                          FLAGS.controller_target)
    try:
        config.check()
        if FLAGS.epochs < 1 or FLAGS.filters < 1:
            raise ValueError("--epochs and --filters must be at least 1")
        base = cells.load(FLAGS.base) if FLAGS.base else None
        import train
        data = train.load_data(FLAGS.dataset, FLAGS.data_dir, FLAGS.val_fraction,
                               FLAGS.train_examples, FLAGS.seed)
        train_config = train.TrainConfig(epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
                                         learning_rate=FLAGS.learning_rate,
                                         filters=FLAGS.filters, seed=FLAGS.seed,
                                         verbose=FLAGS.verbose,
                                         run_eagerly=FLAGS.run_eagerly)
        summary = run(FLAGS.out_dir, data, config, train_config, base,
                      log=lambda line: print(line, flush=True))
    except ValueError as e:
        raise SystemExit(f"search.py: {e}") from None
    best, ref = summary.best, summary.round0_best
    print(f"final network ({FLAGS.out_dir}/best_arch.json): val acc {best.accuracy:.4f}, "
          f"p {best.p / 2**20:.3f} MiB, r {best.r / 2**20:.3f} MiB; round-0 best: val acc "
          f"{ref.accuracy:.4f}, p {ref.p / 2**20:.3f} MiB, r {ref.r / 2**20:.3f} MiB; "
          f"y against the round-0 best {summary.y_vs_round0:+.4f}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
