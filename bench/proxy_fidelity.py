"""Benchmark: how well does a cheap training rank networks as a long one does? (proxy fidelity)

A search can afford only a cheap training per candidate (a proxy); what it needs from it is the
order of the networks, not their accuracy. This benchmark takes a fixed, seeded panel of networks
of the search space (`panel`: Figure 1b, round-0 networks spread over memory, grown and trimmed
candidates of three of them), trains each once with a long reference budget and then with every
proxy of PROXIES, and prints per proxy:

    tau      Kendall tau of the proxy's validation accuracies against the reference's test
             accuracies (the long training's, on the 1,017 test images of the subset)
    top-3    the share of the reference's 3 best networks among the proxy's 3 best
    cost     the proxy's training seconds over the reference's, summed over the same networks

An inherited proxy (a grown or trimmed network fine-tuned from its parent, as a search with
--inherit trains it) is compared on the children only, beside the same children trained from
scratch with the same budget; its cost leaves out the parent's training, which a search has
done anyway (the parent is the round's base).

Every training is one line of OUT_DIR/trainings.jsonl, written as it finishes: a killed run
resumes where it stopped and a rerun trains nothing twice. The reference runs first, then the
proxies in PROXIES' order, so a partial run already answers for the cheapest proxies.

    python bench/proxy_fidelity.py --dataset=npz:../shared/data/cifar10_subset.npz
    python bench/proxy_fidelity.py --dataset=npz:PATH --smoke   # 2 tiny networks
"""
import dataclasses
import json
import os

from absl import app
from absl import flags
import numpy as np

import arch_json
import cells
import grow_trim
import guard
import inputs
import lifetime
import network
import ranking
import recipes
import train
from reproduce import report


def define_flags():
    """The command line; defined only when this file runs as a script, so that tests can
    import it."""
    flags.DEFINE_string("dataset", "cifar10", inputs.DATASET_HELP)
    flags.DEFINE_integer("filters", 16, "Filters of the first block (w) of every network.")
    flags.DEFINE_integer("seed", 0, "Seed of the panel, the splits and every training.")
    flags.DEFINE_list("proxies", None, "Only these proxies (names of the table) and what they "
                      "need; default: all.")
    flags.DEFINE_string("out_dir", "runs/bench/proxy_fidelity", "Where everything goes.")
    flags.DEFINE_bool("smoke", False, "A quick run through every path: 2 networks at width 4, "
                      "64 training images, eager steps, a 2-epoch reference, 1-epoch proxies.")


NAME = "proxy_fidelity"
REFERENCE = "reference"


@dataclasses.dataclass(frozen=True)
class Proxy:
    """One way to train a candidate: a recipe (recipes.RECIPES) cut to `epochs`, with BatchNorm
    momentum `bn_momentum`, batches of `batch_size` (None: the recipe's; another size scales
    the peak learning rate with it, the linear scaling rule), on the first `train_examples`
    training images (None: all), from scratch or (`inherit`) fine-tuned from its parent's
    model trained with `parent`'s proxy, its BatchNorm statistics recomputed on
    `bn_recalibration` batches (0: not)."""
    name: str
    epochs: int
    recipe: str = "short"
    bn_momentum: float = network.BN_MOMENTUM
    batch_size: int | None = None
    train_examples: int | None = None
    inherit: bool = False
    parent: str | None = None
    bn_recalibration: int = 0

    def config(self, filters, seed, run_eagerly=False):
        """The recipes.TrainConfig of this proxy. The paper's recipe gets one SGDR cycle over
        the budget, so that it ends at its lowest rate as its 60 epochs do."""
        fields = {"sgdr_first_epochs": self.epochs} if self.recipe == "paper" else {}
        fields.update(recipes.batch_fields(self.recipe, self.batch_size))
        return recipes.TrainConfig.of_recipe(self.recipe, epochs=self.epochs, filters=filters,
                                             seed=seed, verbose=0, run_eagerly=run_eagerly,
                                             bn_momentum=self.bn_momentum,
                                             bn_recalibration=self.bn_recalibration, **fields)


def _proxies(epochs=(1, 2, 4), reference_epochs=20, subset=2000, recalibration=10,
             small_batch=64):
    """The reference, then the proxies from the likeliest useful to the least: the ones within
    the target's 1/8 of the reference's cost first, so that a partial run answers for them.
    The recipe's batch of 256 makes 18 steps an epoch of the subset's 4,576 training images;
    the `small_batch` proxies take 4 times as many steps for about the same cost."""
    cheap = [e for e in epochs if e <= reference_epochs / 8]

    def scratch_and_inherited(e):
        return [Proxy(f"short e{e}", e),
                Proxy(f"inherit short e{e}", e, inherit=True, parent=f"short e{e}"),
                Proxy(f"inherit short e{e} +recal", e, inherit=True, parent=f"short e{e}",
                      bn_recalibration=recalibration)]

    found = [Proxy(REFERENCE, reference_epochs)]
    for e in cheap:
        found += scratch_and_inherited(e)
    small = [Proxy(f"short e{e} b{small_batch}", e, batch_size=small_batch)
             for e in reversed(cheap)]
    found += small + [Proxy(f"inherit {p.name}", p.epochs, batch_size=small_batch, inherit=True,
                            parent=p.name) for p in small]
    found += [Proxy(f"short e{e} n{subset}", e, train_examples=subset) for e in epochs]
    for e in epochs:
        if e not in cheap:
            found += scratch_and_inherited(e)
        found += [Proxy(f"paper e{e}", e, recipe="paper"),
                  Proxy(f"short e{e} bn0.99", e, bn_momentum=0.99),
                  Proxy(f"paper e{e} bn0.99", e, recipe="paper", bn_momentum=0.99)]
    return tuple(found)


PROXIES = _proxies()
# Every code path once: a reference, a scratch proxy and the inherited ones it is the parent
# of, a subset, the paper's recipe with Keras' BatchNorm momentum.
SMOKE_PROXIES = tuple(p for p in _proxies(epochs=(1,), reference_epochs=2, subset=32,
                                          recalibration=2)
                      if p.name not in ("paper e1", "short e1 bn0.99"))


# ---------------------------------------------------------------------------------------------
# The panel
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Network:
    """A panel member: a name, its architecture and, for a grown or trimmed one, its parent's
    name (a panel member too)."""
    name: str
    arch: cells.Arch
    parent: str | None = None


def panel(seed, filters, round0=7, children=3, smoke=False):
    """The fixed panel: Figure 1b; `round0` of round 0's 28 distinct networks, evenly spread
    over their memory p + r at width `filters`; and `children` grow/trim candidates of each of
    three parents (Figure 1b: trimmed; the median and the largest round-0 pick: grown), drawn
    with `seed`: 1 + 7 + 3 * 3 = 17 networks by default. smoke: the smallest round-0
    network and one grown child of it (a scratch parent and an inherited child: every path)."""
    rng = np.random.default_rng(seed)

    def memory(arch):
        stats = lifetime.arch_memory(arch, filters)
        return stats.param_bytes + stats.activation_bytes

    first = sorted(grow_trim.generate().candidates, key=memory)
    if smoke:
        found = [Network("r0_0", first[0])]
        parents, children = [("r0_0", "grow")], 1
    else:
        picked = np.linspace(0, len(first) - 1, round0).round().astype(int)
        found = [Network("fig1b", cells.FIGURE_1B)]
        found += [Network(f"r0_{i}", first[j]) for i, j in enumerate(picked)]
        parents = [("fig1b", "trim"), (f"r0_{round0 // 2}", "grow"), (f"r0_{round0 - 1}", "grow")]
    by_name = {n.name: n.arch for n in found}
    for parent, kind in parents:
        generation = grow_trim.generate(by_name[parent])
        pool = generation.trim if kind == "trim" else generation.grow
        for n, i in enumerate(sorted(rng.choice(len(pool), min(children, len(pool)),
                                                replace=False))):
            found.append(Network(f"{parent}_{kind}{n}", pool[i], parent))
    return found


# ---------------------------------------------------------------------------------------------
# Training, resumable
# ---------------------------------------------------------------------------------------------

class Trainings:
    """OUT_DIR/trainings.jsonl: one line per (proxy, network) trained; OUT_DIR/models/ keeps
    the models that inherited proxies start from."""

    def __init__(self, out_dir, settings):
        self.out_dir, self.run_eagerly = out_dir, settings["smoke"]  # tiny: eager is faster
        self.path = os.path.join(out_dir, "trainings.jsonl")
        os.makedirs(out_dir, exist_ok=True)
        settings_path = os.path.join(out_dir, "settings.json")
        if os.path.isfile(settings_path):
            with open(settings_path) as f:
                before = json.load(f)
            if before != settings:
                changed = sorted(k for k in set(before) | set(settings)
                                 if before.get(k) != settings.get(k))
                raise ValueError(f"{out_dir} holds a run with other settings "
                                 f"({', '.join(changed)}); use another --out_dir")
        guard.write_json(settings_path, settings)
        guard.drop_cut_line(self.path)
        self.done = {(r["proxy"], r["network"]): r for r in guard.read_jsonl(self.path)}

    def model_path(self, proxy, network):
        folder = os.path.join(self.out_dir, "models", proxy.replace(" ", "_"))
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{network}.keras")

    def run(self, proxy, network, data, filters, seed, keep_model, log, parent=None):
        """Train `network` with `proxy` unless done; its line (a dict). An inherited proxy
        needs `parent`: (its Proxy, its Network, the data it trained on)."""
        if (proxy.name, network.name) in self.done:
            return self.done[(proxy.name, network.name)]
        start = None
        config = proxy.config(filters, seed, self.run_eagerly)
        if proxy.inherit:
            start = train.Inheriting(*self.parent_model(*parent, filters, seed, log),
                                     network.arch, config, data)
        result = train.train(network.arch, data, config,
                             model_path=self.model_path(proxy.name, network.name)
                             if keep_model else None,
                             evaluate_test=proxy.name == REFERENCE, start=start)
        line = {"proxy": proxy.name, "network": network.name, "key": arch_json.key(network.arch),
                **dataclasses.asdict(result)}
        guard.append_jsonl(self.path, line)
        self.done[(proxy.name, network.name)] = line
        log(f"  {proxy.name:<24} {network.name:<12} val {_pct(result.val_accuracy)}  test "
            f"{_pct(result.test_accuracy)}  {result.seconds:6.1f} s  {result.status}")
        return line


    def parent_model(self, proxy, network, data, filters, seed, log):
        """(model, arch) of `network` trained with `proxy`, as kept by `run`; trained again
        (the same seed: the same network) where only its line was kept, e.g. in a checkout
        that has the lines but not the models."""
        path = self.model_path(proxy.name, network.name)
        if not os.path.isfile(path):
            log(f"  {proxy.name:<24} {network.name:<12} training again for its model")
            train.train(network.arch, data, proxy.config(filters, seed, self.run_eagerly),
                        model_path=path)
        return train.load_model(path)


def _pct(value):
    return "    —" if value is None else f"{100 * value:5.1f}%"


# ---------------------------------------------------------------------------------------------
# Fidelity
# ---------------------------------------------------------------------------------------------

def top_overlap(truth, guess, k=3):
    """|top-k of guess & top-k of truth| / k, by index; ties go to the earlier network."""
    top = [set(ranking.top_k(np.asarray(values, float), k)) for values in (truth, guess)]
    return len(top[0] & top[1]) / k


def fidelity(reference, proxy):
    """{tau, top3, cost, networks} of a proxy's lines against the reference's, over the
    networks both trained successfully; tau/top3 None with fewer than 2/3 of them."""
    pairs = [(reference[n], proxy[n]) for n in proxy
             if n in reference and reference[n]["status"] == proxy[n]["status"] == "ok"]
    truth = [r["test_accuracy"] for r, _ in pairs]
    guess = [p["val_accuracy"] for _, p in pairs]
    return {"networks": len(pairs),
            "tau": ranking.kendall_tau(truth, guess) if len(pairs) >= 2 else None,
            "top3": top_overlap(truth, guess) if len(pairs) >= 3 else None,
            "cost": (sum(p["seconds"] for _, p in pairs) / sum(r["seconds"] for r, _ in pairs)
                     if pairs else None)}


def table(lines_by_proxy, children):
    """Rows of the fidelity table: every proxy on the whole panel (inherited ones: on the
    children), then every scratch proxy that has an inherited twin, on the children only."""
    reference = lines_by_proxy.get(REFERENCE, {})
    rows = []
    for name, lines in lines_by_proxy.items():
        if name != REFERENCE:
            rows.append({"proxy": name, "on": "children" if name.startswith("inherit") else
                         "panel", **fidelity(reference, lines)})
    for name, lines in lines_by_proxy.items():
        if f"inherit {name}" in lines_by_proxy:
            only = {n: line for n, line in lines.items() if n in children}
            rows.append({"proxy": name, "on": "children", **fidelity(reference, only)})
    return rows


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    with guard.one_line_errors("proxy_fidelity.py"):
        proxies = SMOKE_PROXIES if FLAGS.smoke else PROXIES
        names = [p.name for p in proxies]
        if FLAGS.proxies:
            unknown = [n for n in FLAGS.proxies if n not in names]
            if unknown:
                raise ValueError(f"--proxies: unknown {unknown[0]!r}; expected some of "
                                 f"{', '.join(names)}")
            keep = set(FLAGS.proxies) | {REFERENCE} | {p.parent for p in proxies
                                                       if p.name in FLAGS.proxies}
            proxies = [p for p in proxies if p.name in keep]
        filters = 4 if FLAGS.smoke else FLAGS.filters
        if filters < 1:
            raise ValueError(f"--filters must be at least 1, got {filters}")
        networks = panel(FLAGS.seed, filters, smoke=FLAGS.smoke)
        settings = {"dataset": FLAGS.dataset, "filters": filters, "seed": FLAGS.seed,
                    "smoke": FLAGS.smoke}
        trainings = Trainings(FLAGS.out_dir, settings)
        full = inputs.load_data(FLAGS.dataset, None, 0.1, 64 if FLAGS.smoke else None,
                                FLAGS.seed)
        parents = {n.parent for n in networks if n.parent}
        print(f"{len(networks)} networks at width {filters} ({full.num_train} training, "
              f"{full.num_val} validation, {full.num_test} test images), {len(proxies)} "
              f"trainings each; lines in {trainings.path}")
        lines, by_name, datas = {}, {n.name: n for n in networks}, {}
        by_proxy = {p.name: p for p in proxies}
        for proxy in proxies:
            if proxy.train_examples not in datas:
                datas[proxy.train_examples] = full if proxy.train_examples is None else \
                    inputs.load_data(FLAGS.dataset, None, 0.1, proxy.train_examples, FLAGS.seed)
            data = datas[proxy.train_examples]
            keep = any(p.parent == proxy.name for p in proxies)
            lines[proxy.name] = {
                n.name: trainings.run(proxy, n, data, filters, FLAGS.seed,
                                      keep and n.name in parents, print,
                                      (by_proxy[proxy.parent], by_name[n.parent],
                                       datas[by_proxy[proxy.parent].train_examples])
                                      if proxy.inherit else None)
                for n in networks if not proxy.inherit or n.parent}
        children = {n.name for n in networks if n.parent}
        rows = table(lines, children)
        print_table(rows, lines.get(REFERENCE, {}), networks)
        report.write_results(FLAGS.out_dir, NAME, {
            "settings": settings, "networks": {n.name: {"key": arch_json.key(n.arch),
                                                        "parent": n.parent} for n in networks},
            "proxies": [dataclasses.asdict(p) for p in proxies], "fidelity": rows,
            "trainings": lines})


def print_table(rows, reference, networks):
    total = sum(line["seconds"] for line in reference.values())
    accuracies = [line["test_accuracy"] for line in reference.values()
                  if line["test_accuracy"] is not None]
    if accuracies:
        print(f"\nreference: {len(reference)} networks, test accuracy "
              f"{100 * min(accuracies):.1f}% to {100 * max(accuracies):.1f}%, {total:.0f} s")
    print(report.table(["proxy", "on", "networks", "Kendall tau", "top-3", "cost"],
                       [[r["proxy"], r["on"], r["networks"], r["tau"], r["top3"], r["cost"]]
                        for r in rows], digits=3))


if __name__ == "__main__":
    define_flags()
    app.run(main)
