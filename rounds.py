"""One round of the MemNAS search (paper Figure 1a, Sections 3.2-3.4): seven steps, one function
each, sharing one ``Search`` (the out_dir and what the search knows from it, the settings, the
evaluator, the log); ``run_round`` runs them in order.

1. ``generate``: the candidates of the base, grown and trimmed (round 0: the one-cell
   networks), one per distinct network, and 2. ``measure`` their parameter memory p and
   intermediate memory r (exact and cheap, lifetime.py);
3. ``select`` the k to train: by the structure correlation controller (SCC; before it has data,
   by the memory terms of Eq. 4), or by another ``strategy``. In the paper the SCC predicts y
   itself (``--controller_target=y``); by default here it predicts the accuracy and candidates
   are ranked by Eq. 4 of that prediction and their exact p and r, which the SCC would
   otherwise have to learn from a handful of examples per round;
4. ``evaluate`` them through one seam, an evaluator (evaluation.py): a function that takes the
   round's ``Job`` (the candidates to train, the base, the seed) and yields an ``Outcome`` per
   candidate as it finishes. The default, ``TrainEvaluator``, trains each one from scratch in
   this process with train.py; each is scored by the memory-efficiency metric y of Eq. 4
   (efficiency.py) against the base;
5. ``pick_base``: the best by y becomes the next base;
6. ``train_controller``: a fresh SCC on every candidate trained so far (Eq. 3);
7. ``record`` the round, and update the Pareto front of every candidate trained so far
   (pareto.py: ``pareto.json``, ``pareto.png``).

Hard memory budgets (``max_param_bytes``, ``max_activation_bytes``; not in the paper) drop the
candidates over them between steps 2 and 3 (``within_budget``): no strategy ranks them and none
is trained. A search whose round 0 (or starting network) has nothing within them does not start
(``check_start``: a ValueError naming the budget and the smallest candidate); a later round with
nothing within them ends the search.
"""

import dataclasses
import typing

import numpy as np
import tensorflow as tf

import cells
import evaluation
import pareto
import meters
import records
import scc
import search_config
import spaces
from efficiency import memory_efficiency, rank_scores, round0_reference

def generate(round_index, base, start_from=None, space="memnas"):
    """Step 1: the round's distinct candidates in `space` (grow_trim.Generation; spaces.py).
    Round 0 has no base: the space's smallest networks (ours: the one-cell networks), or only
    `start_from` when the search starts from a given network (its accuracy is unknown until it
    is trained)."""
    return spaces.of(space).generate(round_index, base, start_from)


def measure(archs, filters, config, data):
    """Step 2: each network's key and exact memory (bytes_per_value, schedule of `config`, in
    its space), once per key, in the order given."""
    space, measured = spaces.of(config.space), {}
    for arch in archs:
        key = space.key(arch)
        if key not in measured:
            measured[key] = evaluation.Measured(key, arch,
                                                space.memory(arch, filters, config, data))
    return list(measured.values())


def within_budget(candidates, config):
    """Between steps 2 and 3: the measured candidates within the memory budgets of `config`
    (max_param_bytes, max_activation_bytes; all of them without a budget), in their order, and
    how many are over. No strategy ranks, and nothing trains, a network over the budget."""
    fits = [c for c in candidates if config.fits(c.memory)]
    return fits, len(candidates) - len(fits)


def check_start(base, filters, config, data):
    """Before anything is written: ValueError if no round-0 candidate (or the starting network
    `base`) fits the memory budgets, naming them and the smallest candidate: the one least over
    them (relative to each budget; then the smallest p + r)."""
    if not config.budgets():
        return
    candidates = measure(generate(0, None, base, config.space).candidates, filters, config,
                         data)
    if within_budget(candidates, config)[0]:
        return
    budgets = config.budgets()
    smallest = min(candidates, key=lambda c: (
        max(getattr(c.memory, name) / budget for name, budget in budgets.items()),
        c.memory.param_bytes + c.memory.activation_bytes))
    named = ", ".join(f"--max_{name}={budget:,d}" for name, budget in budgets.items())
    memory = (f"param_bytes {smallest.memory.param_bytes:,d} and activation_bytes "
              f"{smallest.memory.activation_bytes:,d} ({config.bytes_per_value} bytes per value, "
              f"{config.schedule} schedule, filters {filters})")
    if base is not None:
        raise ValueError(f"{named}: the starting network (--base) does not fit; it has {memory}")
    raise ValueError(f"{named}: no round-0 candidate fits; the smallest has {memory}")


def select(search, round_index, candidates, pre):
    """Step 3: the round's k to train, best first, recorded before training so that a resumed
    search trains the same ones. The SCC ranks them once it has been trained on something
    (strategy memnas); before that, the memory terms of Eq. 4 against `pre`."""
    out, config = search.out, search.config
    controller_ready = any(record.ok for record in search.state.records)
    by_key = {c.key: c for c in candidates}
    saved = out.selection(round_index)
    if saved is not None:
        return [by_key[key] for key in saved.selected]
    memories, k = [c.memory for c in candidates], config.k_of(round_index)
    if config.strategy == "random":
        rng = np.random.default_rng([config.seed, round_index])
        order = [int(i) for i in rng.permutation(len(candidates))[:k]]
        how, scores = f"random draw (seed {config.seed}, round {round_index})", ()
    else:
        predictions, how = None, "memory terms of Eq. 4"
        if config.strategy == "memnas" and controller_ready:
            controller = search.controller or scc.Controller.load(out.controller_path)
            predictions = controller.predict([c.arch for c in candidates])
            how = ("controller (predicted y)" if config.controller_target == "y" else
                   "controller (Eq. 4 of predicted accuracy and exact memory)")
        all_scores = rank_scores(memories, pre, config.lambda_, predictions,
                                 config.controller_target)
        order = sorted(range(len(candidates)), key=lambda i: -all_scores[i])[:k]
        scores = tuple(float(all_scores[i]) for i in order)
    out.write_selection(records.Selection(round_index, how,
                                          tuple(candidates[i].key for i in order), scores))
    search.log(f"round {round_index}: picked {len(order)} of {len(candidates)} candidates by "
               f"the {how}")
    return [candidates[i] for i in order]


def evaluate(search, round_index, selected, pre, base):
    """Step 4: a Candidate record for each selected candidate, in `selected` order: one found
    in out_dir (a resumed search), one reusing the accuracy of the same network trained in an
    earlier round, or the evaluator's. Each new record is appended as soon as it exists."""
    out, state, config, log = search.out, search.state, search.config, search.log
    found, todo = {}, []
    for n, candidate in enumerate(selected, start=1):
        record = state.trained.get((round_index, candidate.key))
        if record is not None:
            log(_progress(record, n, len(selected), config.space) + "  (already trained)")
            found[candidate.key] = record
        elif not config.inherit and candidate.key in state.accuracy_of:
            earlier = state.accuracy_of[candidate.key]
            outcome = evaluation.Outcome(candidate.key, earlier.val_accuracy, "ok", 0.0)
            found[candidate.key] = _finish(search, round_index, candidate, outcome, pre,
                                           reused_from=earlier.round)
        else:
            todo.append(candidate)
    by_key = {c.key: c for c in todo}
    meter = meters.Meter(len(todo), bar="candidate" if search.progress_bar else None)
    job = evaluation.Job(round_index, tuple(todo), base, out.path, config.seed,
                         out.base_model_path(round_index) if config.inherit and base is not None
                         else None)
    for trained, outcome in enumerate(search.evaluator(job), start=1):
        if outcome.key not in by_key or outcome.key in found:
            raise RuntimeError(f"round {round_index}: the evaluator returned {outcome.key}, "
                               f"which it was not asked for or returned twice")
        found[outcome.key] = record = _finish(search, round_index, by_key[outcome.key],
                                              outcome, pre)
        log(_progress(record, len(found), len(selected), config.space)
            + f"  (round {round_index}: {meter.line(trained)})")
        meter.draw(trained)
    missing = [c.key for c in todo if c.key not in found]
    if missing:
        raise RuntimeError(f"round {round_index}: the evaluator returned no outcome for "
                           f"{len(missing)} candidates")
    return [found[c.key] for c in selected]


def _finish(search, round_index, candidate, outcome, pre, reused_from=None):
    """The Candidate record of an outcome, with y of Eq. 4 against `pre`, appended to out_dir."""
    stats = dataclasses.replace(candidate.memory, accuracy=outcome.val_accuracy)
    y = memory_efficiency(stats, pre, search.config.lambda_) if outcome.status == "ok" else None
    record = records.Candidate(
        round=round_index, key=candidate.key, arch=candidate.arch,
        val_accuracy=outcome.val_accuracy, param_bytes=stats.param_bytes,
        activation_bytes=stats.activation_bytes, y=y, seconds=round(outcome.seconds, 3),
        status=outcome.status, reused_from=reused_from)
    search.out.append_candidate(record)
    search.state.add(record)
    return record


def pick_base(search, round_index, results):
    """Step 5: (the best "ok" record by y, whether it becomes the next base). Round 0 always
    has a new base; later rounds only if the best improves y over the current one."""
    ok = [record for record in results if record.ok]
    if not ok:
        raise RuntimeError(f"round {round_index}: every candidate failed; see "
                           f"{search.out.file('candidates.jsonl')}")
    best = max(ok, key=lambda record: record.y)
    return best, round_index == 0 or best.y > 0


def train_controller(search, round_index):
    """Step 6: a fresh SCC on every candidate trained so far, seeded by the round, so that a
    resumed search trains the same one. Its target is y (Eq. 3) or the validation accuracy
    (config.controller_target); accuracy means the same in every round, while y is measured
    against each round's own base. Records are taken in (round, key) order, not the order
    they finished in, so that the controller, and what it selects next, do not depend on how
    many workers trained the candidates."""
    config = search.config
    ok = sorted((record for record in search.state.records if record.ok),
                key=lambda record: (record.round, record.key))
    targets = [record.y if config.controller_target == "y" else record.val_accuracy
               for record in ok]
    if search.controller is None:
        search.controller = scc.Controller(kind="scc", list_size=config.list_size,
                                           seed=config.seed + round_index, space=config.space,
                                           run_eagerly=search.controller_eagerly)
    else:
        search.controller.reinitialize(config.seed + round_index)
    controller = search.controller
    controller.fit([record.arch for record in ok], targets, epochs=config.controller_epochs)
    controller.save(search.out.controller_path)
    search.log(f"round {round_index}: controller trained on {len(ok)} candidates")


def record(search, round_record):
    """Step 7: the round's line in rounds.jsonl, the network kept as base_roundNN.json (with
    --inherit, its trained model as base_roundNN.keras), TensorBoard scalars, and the Pareto
    front of every candidate trained so far (pareto.py)."""
    out, writer = search.out, search.writer
    out.save_base(round_record.best_arch, round_record.round)
    if search.config.inherit and round_record.improved:
        out.keep_base_model(round_record.round, round_record.best_key)
    out.append_round(round_record)
    out.drop_models(round_record.round)
    best = round_record.best
    with writer.as_default(step=round_record.round):
        tf.summary.scalar("best/y", round_record.best_y)
        tf.summary.scalar("best/val_accuracy", best.accuracy)
        tf.summary.scalar("best/param_bytes", best.param_bytes)
        tf.summary.scalar("best/activation_bytes", best.activation_bytes)
    writer.flush()
    pareto.write(out, search.state.records, None, search.config, search.front_png)
    search.log(f"round {round_record.round} done: best y {round_record.best_y:+.4f}, "
               f"{ACCURACY[search.config.space]} {best.accuracy:.4f}, "
               f"p {best.param_bytes / 2**20:.3f} MiB, "
               f"r {best.activation_bytes / 2**20:.3f} MiB"
               + ("" if round_record.improved else "; no candidate improves y, base kept"))


# ---------------------------------------------------------------------------------------------
# What the steps share
# ---------------------------------------------------------------------------------------------

class State:
    """What the search knows from its out_dir: every trained candidate, by (round, key), and
    the first "ok" record of each network, whose accuracy later rounds reuse."""

    def __init__(self, candidates):
        self.records, self.trained, self.accuracy_of = [], {}, {}
        for candidate in candidates:
            self.add(candidate)

    def add(self, candidate):
        self.records.append(candidate)
        self.trained[(candidate.round, candidate.key)] = candidate
        if candidate.ok:
            self.accuracy_of.setdefault(candidate.key, candidate)


@dataclasses.dataclass
class Search:
    """What the steps of a round share: the out_dir and what the search knows from it, the
    settings, the data and width the candidates are measured at, the evaluator that trains
    them, the --base network round 0 starts from (None: the one-cell networks), TensorBoard's
    writer, whether to draw pareto.png, where progress lines go, and the controller, kept
    between rounds so that its model is traced once (a resumed search loads it)."""
    out: records.OutDir
    state: State
    config: search_config.SearchConfig
    data: object = None
    filters: int = 64
    evaluator: object = None
    start_from: cells.Arch | None = None
    writer: object = None
    front_png: bool = True
    log: typing.Callable = print
    controller: object = None  # the SCC last trained in this process (scc.Controller)
    progress_bar: bool = False  # a terminal's bar of each round's candidates (meters.Meter)
    controller_eagerly: bool = False  # scc.Controller's run_eagerly (--run_eagerly)


# ---------------------------------------------------------------------------------------------
# The round
# ---------------------------------------------------------------------------------------------

def run_round(search, round_index, progress):
    """Figure 1a, one round: the records.Round of steps 1 to 7, or None if no candidate fits
    the memory budgets (never in round 0: check_start)."""
    config, log = search.config, search.log
    generation = generate(round_index, progress.base, search.start_from, config.space)
    measured = measure(generation.candidates, search.filters, config, search.data)
    candidates, excluded = within_budget(measured, config)
    counts = generation.counts()
    log(f"round {round_index}: {len(measured)} candidates (grow {counts['grow']}, "
        f"trim {counts['trim']})" + (f"; {excluded} over the memory budget, not ranked"
                                     if config.budgets() else ""))
    if not candidates:
        log(f"round {round_index}: no candidate fits the memory budget; the search ends with "
            f"round {round_index - 1}'s network")
        return None
    if progress.stalled:  # the same base as the rounds before: only what they did not try
        seen = {key for r, key in search.state.trained if r >= round_index - progress.stalled}
        candidates = [c for c in candidates if c.key not in seen]
        if not candidates:
            log(f"round {round_index}: every candidate of the base was evaluated; the search "
                f"ends with round {round_index - 1}'s network")
            return None
    pre = round0_reference([c.memory for c in candidates], search.data.num_classes) \
        if round_index == 0 else progress.base_stats
    selected = select(search, round_index, candidates, pre)
    results = evaluate(search, round_index, selected, pre, progress.base)
    best, improved = pick_base(search, round_index, results)
    kept, kept_stats = (best.arch, best.stats) if improved else (progress.base,
                                                                 progress.base_stats)
    if config.strategy == "memnas":
        train_controller(search, round_index)
    round_record = records.Round(
        round=round_index, base_arch=progress.base, base=pre, best_key=best.key,
        best_arch=kept, best=kept_stats, best_y=best.y, improved=improved,
        trained=len(results), failed=sum(not r.ok for r in results), excluded=excluded)
    record(search, round_record)
    return round_record




ACCURACY = {"memnas": "val acc", "nb201": "table acc"}  # nb201: looked up in the table


def _progress(record, n, total, space="memnas"):
    if not record.ok:
        return f"  [{n}/{total}] {record.status} ({record.seconds:.1f}s)"
    accuracy = ACCURACY[space]
    return (f"  [{n}/{total}] {accuracy} {record.val_accuracy:.4f}  "
            f"p {record.param_bytes / 2**20:.3f} MiB  "
            f"r {record.activation_bytes / 2**20:.3f} MiB  y {record.y:+.4f}  "
            f"({record.seconds:.1f}s)" + ("" if record.reused_from is None else
                                          f"  (accuracy of round {record.reused_from})"))


