"""Inference memory of a network: parameters plus the peak of live feature maps (Section 3.4.1).

MemNAS scores a candidate by its parameter memory and its intermediate memory (p and r of
Eq. 4), here ``param_bytes`` and ``activation_bytes``. ``param_bytes`` is the parameter count at
inference times the bytes per value. ``activation_bytes`` comes from the register-lifetime
analysis of Figure 3: each intermediate representation (a node) lives from the time it is
generated until it is deleted, and the memory is the largest sum of live node sizes at any time.

Four schedules (``analyze``):

* ``paper`` (default; reproduces Figure 3 exactly), the figure's four rules:
  1. nodes are the block input, every operation layer's output, every cell's combine output and
     the block's final concatenation; BatchNorm and activations are fused into the layer before
     them, and an identity layer makes no node unless it has to project;
  2. as soon as possible: a node is computed at 1 + the latest time of its inputs, all nodes of
     a time unit together;
  3. a node is deleted at the time its last consumer is computed and is not counted then, but a
     cell's output stays live until the block output is formed;
  4. memory(t) is the sum of the sizes live at t; the peak is its largest value.
* ``strict``: one node at a time in program order, a node's inputs are counted while it is
  computed and every node is deleted right after its last consumer. Closer to what a runtime
  with one buffer per tensor does; reported beside ``paper``, never mixed with it.
* ``optimal``: strict's memory model in the topological order with the lowest peak
  (orders.py, an exact search), so never above strict. ``arch_order`` gives that order by
  layer name, for an exporter to run the operators in.
* ``tflm``: strict's lifetimes laid out in one arena as TensorFlow Lite Micro's planner lays
  them out (tflm.py): what a microcontroller allocates.

Parameters are counted as deployed: BatchNorm folded into the convolution before it
(``cells.op_params`` for the operation layers of an Arch, ``keras_graph.folded_params`` for
Keras layers).

The nodes are built by graph.py from an Arch (rule 1: ``graph.block_graph``) and by
keras_graph.py from any Keras functional model (``keras_graph.model_graph``), which is how the
baselines of Tables 1 and 2 are measured; for a model ``network.build_model`` made, it gives what
``arch_memory`` gives for the Arch under the paper schedule. The graph logic imports no Keras.
"""

import dataclasses
import functools
import json
import math

from absl import app
from absl import flags

import arch_json
import cells
import graph
import guard
import keras_graph
import orders
import tflm


def define_flags():
    """Flags of this file's command line; defined only when it runs as a script, so that
    other scripts can import it as a library without a clash of flag names."""
    flags.DEFINE_string("arch", None, "JSON architecture file (see arch_json.py).")
    flags.DEFINE_string("keras_app", None, "A keras.applications model name, e.g. MobileNetV2.")
    flags.DEFINE_integer("input_size", 32, "Input height and width.")
    flags.DEFINE_integer("filters", 64, "Filters of the first block (w).")
    flags.DEFINE_integer("num_classes", 10, "Classes of the dense head.")
    flags.DEFINE_integer("bytes", 4, "Bytes per value (4 = float32, 1 = int8).")
    flags.DEFINE_enum("schedule", "paper", SCHEDULES, "Lifetime schedule.")
    flags.DEFINE_bool("json", False, "Print one JSON object instead of a table.")
    flags.DEFINE_string("plot", None, "Write the lifetime plot of the whole network to this PNG.")

SCHEDULES = ("paper", "strict", "optimal", "tflm")
# Schedules of a deployed network: every tensor a runtime holds is a node, those inside an
# operation layer too (a depthwise output before its pointwise conv: graph.op_tensors).
DEPLOYED = ("strict", "optimal", "tflm")


@dataclasses.dataclass(frozen=True)
class Lifetime:
    """A schedule: the time each node is generated and deleted, and the memory row beneath."""
    names: tuple
    sizes: tuple
    born: tuple
    dead: tuple     # None for a node nothing deletes (the network output)
    memory: tuple   # memory[t - 1] = sum of the sizes live at time t
    schedule: str

    @property
    def peak(self):
        return max(self.memory)


def analyze(nodes, schedule="paper", sizes=None):
    """Lifetime of `nodes` (a list in program order, inputs given by index) under `schedule`;
    `sizes` replaces the nodes' own (H x W x C), e.g. all 1 as in Figure 3. Under ``optimal`` the
    order is the best one for the sizes used: the nodes' own when `sizes` is None, so unit sizes
    can give another order than the real ones."""
    sizes = _sizes(nodes, sizes)
    born, dead = _times(nodes, schedule, sizes)
    return Lifetime(tuple(n.name for n in nodes), sizes, tuple(born), tuple(dead),
                    tuple(_memory_row(born, dead, sizes)), schedule)


def _sizes(nodes, sizes=None):
    return tuple(math.prod(node.shape) for node in nodes) if sizes is None else tuple(sizes)


def _times(nodes, schedule, sizes=None):
    """When each node is generated and deleted (None: never) under `schedule`.

    Paper: rule 2, born(n) = 1 + max(born(inputs of n)), the block input at t = 1; rule 3,
    dead(n) = born(last consumer of n), or born(n.hold) if later. Strict: born(n) = its position
    in program order, dead(n) = born(last consumer of n) + 1. Optimal: as strict, in the order
    `orders.optimal_order` finds for `sizes` (None: the nodes' own).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")
    paper = schedule == "paper"
    position = orders.positions(len(nodes), orders.optimal_order(nodes, sizes)[0]
                               if schedule == "optimal" else None)
    born = [0] * len(nodes)
    last = [0] * len(nodes)  # time of each node's last consumer
    holds = []
    # Plain loops, not max() over lists: nodes have one or two inputs, and this runs for
    # every block of every candidate.
    for k, (name, _, ins, _, hold) in enumerate(nodes):
        t = 1 if paper else position[k] + 1
        for i in ins:
            if i >= k:
                raise ValueError(f"node {name}: reads a node that comes after it")
            if paper and born[i] >= t:  # rule 2: ASAP
                t = born[i] + 1
        born[k] = t
        for i in ins:
            if t > last[i]:  # ASAP or optimal can run a later node of the program earlier
                last[i] = t
        if hold is not None and paper:
            holds.append((k, hold))
    for k, hold in holds:  # rule 3: cell outputs live until the block output
        if born[hold] > last[k]:
            last[k] = born[hold]
    # Paper: deleted at its last consumer's time. Strict (and tflm): counted then, deleted one
    # step later.
    return born, [None if t == 0 else t if paper else t + 1 for t in last]


def _memory_row(born, dead, sizes):
    """Rule 4: memory(t) = sum of size(n) over the nodes with born(n) <= t < dead(n), for
    t = 1 .. the last time; memory[t - 1] holds memory(t)."""
    end = max(born)
    delta = [0] * (end + 2)
    for b, d, size in zip(born, dead, sizes):
        delta[b] += size
        if d is not None:
            delta[d] -= size
    memory, live = [], 0
    for t in range(1, end + 1):
        live += delta[t]
        memory.append(live)
    return memory


@dataclasses.dataclass(frozen=True)
class Memory:
    """What Eq. 4 needs of a network: param_bytes (its p) and activation_bytes (its r)."""
    params: int
    param_bytes: int
    activation_bytes: int
    total_bytes: int
    block_peaks: tuple  # bytes; empty for a Keras model, which has no blocks
    schedule: str

    def as_dict(self):
        return dataclasses.asdict(self)


def _profile(nodes, schedule):
    """(folded params, peak elements) of one part. Parts are scheduled on their own, which
    gives the same peak as the whole network: nothing of a part outlives its output."""
    sizes = [math.prod(shape) for _, shape, _, _, _ in nodes]
    born, dead = _times(nodes, schedule, sizes)
    return sum(n.params for n in nodes), max(_memory_row(born, dead, sizes))


@functools.lru_cache(maxsize=1 << 12)
def _part_profile(graph, key, schedule):
    """(params, peak, output shape) of the stem, a block or the head, cached: a round's
    candidates share most blocks with their base."""
    nodes, out = graph(*key)
    return _profile(nodes, schedule) + (nodes[out].shape,)


def arch_memory(arch, filters=64, bytes_per_value=4, schedule="paper", input_shape=(32, 32, 3),
                num_classes=10, strides=cells.BLOCK_STRIDES, widths=cells.BLOCK_WIDTHS):
    """param_bytes, activation_bytes and per-block peaks of `arch`: exact and fast (no Keras),
    for every candidate. Equal to `model_memory(network.build_model(arch, ...))` under the paper
    and optimal schedules; under strict see `model_memory`."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")
    arch = cells.prune(arch, len(strides))
    primitives = schedule in DEPLOYED
    params, peak, shape = _part_profile(graph.stem_graph, (tuple(input_shape), filters), schedule)
    block_peaks = []
    for block, s, width in zip(arch.blocks, strides, widths):
        block_params, block_peak, shape = _part_profile(
            graph.block_graph, (block, shape, filters * width, s, "b1", primitives), schedule)
        params += block_params
        block_peaks.append(block_peak)
    head_params, head_peak, _ = _part_profile(graph.head_graph, (shape, num_classes), schedule)
    params += head_params
    if schedule == "tflm":  # one plan for the whole network, in bytes: no per-block peaks
        return _memory(params, tflm.planned_arena(graph.arch_graph(
            arch, filters, input_shape, num_classes, strides, widths, True), bytes_per_value),
            bytes_per_value, (), schedule)
    peak = max(peak, head_peak, *block_peaks)
    return _memory(params, peak * bytes_per_value, bytes_per_value,
                   tuple(b * bytes_per_value for b in block_peaks), schedule)


def parts_memory(parts, bytes_per_value=4, schedule="paper"):
    """param_bytes and activation_bytes of a network given as parts [(nodes, output index),
    ...] run one after the other (graph.join), each part scheduled on its own as `arch_memory`
    schedules a network's stem, blocks and head: for networks of other spaces (nb201.py)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")
    profiles = [_profile(nodes, schedule) for nodes, _ in parts]
    params = sum(p for p, _ in profiles)
    if schedule == "tflm":
        return _memory(params, tflm.planned_arena(graph.join(parts), bytes_per_value),
                       bytes_per_value, (), schedule)
    return _memory(params, max(peak for _, peak in profiles) * bytes_per_value,
                   bytes_per_value, (), schedule)


def _memory(params, activation_bytes, bytes_per_value, block_peaks, schedule):
    return Memory(params, params * bytes_per_value, activation_bytes,
                  params * bytes_per_value + activation_bytes, block_peaks, schedule)


def arch_order(arch, filters=64, input_shape=(32, 32, 3), num_classes=10,
               strides=cells.BLOCK_STRIDES, widths=cells.BLOCK_WIDTHS):
    """The memory-optimal execution order of `arch`'s nodes, for an exporter to run the
    operators in: one tuple of node names per part (the stem, each block, the head), each in
    the order `optimal_order` finds for that part and without the part's input (the image, or
    the previous part's output). Joined, they order the whole network.

    The nodes are the tensors a deployed network computes (`graph.block_graph` with
    `primitives`),
    named after the layers network.build_model(arch, filters, ...) creates: an op layer
    (`b1_c2_l1_dwconv3x3`, one keras.Sequential) is its output tensor, and the tensors inside it
    are `b1_c2_l1_dwconv3x3/0`, ... (the depthwise conv's output); then combines (`b1_c2_sum`),
    block concatenations (`b1_out`), `stem`, `gap` and `logits`; the weightless Identity
    markers build_model puts on cell and block outputs are no nodes. The order depends on the
    sizes: give the filters and input shape of the model being exported. For any Keras model:
    `[nodes[k].name for k in orders.optimal_order(nodes)[0]]` with
    `nodes = keras_graph.model_graph(model, primitives=True)`.
    Raises ValueError as `optimal_order` does, past its budget.
    """
    arch = cells.prune(arch, len(strides))
    return [tuple(nodes[k].name for k in orders.optimal_order(nodes)[0][1:])
            for nodes, _ in graph.network_parts(arch, filters, input_shape, num_classes, strides,
                                                widths, primitives=True)]


def model_memory(model, bytes_per_value=4, schedule="paper"):
    """param_bytes and activation_bytes of any Keras functional model (Tables 1 and 2).

    For a model network.build_model made, equal to `arch_memory` of its Arch under the paper and
    optimal schedules, which depend only on the graph. Strict can differ: its program order is
    the order of the node list, and a Keras model keeps no record of the order its layers were
    called in; it lists (and runs) them by depth from the output, so e.g. both cells' op layers
    before the first cell's sum, where arch_graph follows build_model's calls cell by cell.
    """
    nodes = keras_graph.model_graph(model, primitives=schedule in DEPLOYED)
    params, peak = _profile(nodes, schedule)
    if schedule == "tflm":
        peak = tflm.planned_arena(nodes, bytes_per_value)
    else:
        peak *= bytes_per_value
    return _memory(params, peak, bytes_per_value, (), schedule)


# ---------------------------------------------------------------------------------------------
# The lifetime plot of Figure 3
# ---------------------------------------------------------------------------------------------

def plot(lifetime, path, title=None):
    """One row per node, filled circle at generation, hollow at deletion, memory row beneath."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, end = len(lifetime.names), len(lifetime.memory)
    numbers = end <= 20  # a memory row of numbers, as in the paper, while it stays readable
    fig_h = 1.0 + 0.28 * n + (0.5 if numbers else 1.6)
    fig, axes = plt.subplots(2, 1, figsize=(max(5.0, 0.55 * end + 2.5), fig_h), sharex=True,
                             gridspec_kw={"height_ratios": [n, 1.6 if numbers else 5]})
    ax, mem_ax = axes
    for row, (born, dead) in enumerate(zip(lifetime.born, lifetime.dead)):
        y = n - row
        if dead is not None:
            ax.plot([born, dead], [y, y], "k-", lw=1.5)
            ax.plot(dead, y, "o", mfc="white", mec="k", ms=6)
        ax.plot(born, y, "ko", ms=6)
    ax.set_yticks(range(n, 0, -1), lifetime.names, fontsize=8)
    ax.set_ylim(0.4, n + 0.6)
    for t in range(1, end):
        ax.axvline(t + 0.5, color="0.7", ls=":", lw=0.8)
    ax.set_title(title or f"lifetime ({lifetime.schedule} schedule), peak {lifetime.peak}")
    if numbers:
        for t, m in enumerate(lifetime.memory, start=1):
            mem_ax.text(t, 0.5, str(m), ha="center", va="center",
                        fontweight="bold" if m == lifetime.peak else "normal")
        mem_ax.set_yticks([0.5], ["memory"])
        mem_ax.set_ylim(0, 1)
    else:
        mem_ax.step(range(1, end + 1), lifetime.memory, where="mid", color="k")
        mem_ax.set_ylabel("memory")
    mem_ax.set_xticks(range(1, end + 1) if numbers else mem_ax.get_xticks())
    mem_ax.set_xlim(0.5, end + 0.5)
    mem_ax.set_xlabel("time (one layer per unit)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _keras_app(name, input_size, num_classes):
    import keras
    builder = getattr(keras.applications, name, None)
    if builder is None or not callable(builder):
        raise ValueError(f"--keras_app: keras.applications has no model {name!r}")
    return builder(input_shape=(input_size, input_size, 3), weights=None, classes=num_classes)


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if (FLAGS.arch is None) == (FLAGS.keras_app is None):
        raise app.UsageError("give exactly one of --arch and --keras_app")
    if FLAGS.bytes < 1:
        raise app.UsageError(f"--bytes must be at least 1, got {FLAGS.bytes}")
    input_shape = (FLAGS.input_size, FLAGS.input_size, 3)
    with guard.one_line_errors("lifetime.py"):
        if FLAGS.arch:
            arch = arch_json.load(FLAGS.arch)
            memory = arch_memory(arch, FLAGS.filters, FLAGS.bytes, FLAGS.schedule, input_shape,
                                 FLAGS.num_classes)
            nodes = graph.arch_graph(arch, FLAGS.filters, input_shape, FLAGS.num_classes)
            source = FLAGS.arch
        else:
            model = _keras_app(FLAGS.keras_app, FLAGS.input_size, FLAGS.num_classes)
            memory = model_memory(model, FLAGS.bytes, FLAGS.schedule)
            nodes = keras_graph.model_graph(model)
            source = FLAGS.keras_app
        if FLAGS.plot:  # the optimal order of the whole network can exceed the search budget
            plot(analyze(nodes, FLAGS.schedule), FLAGS.plot, f"{source}: lifetime "
                 f"({FLAGS.schedule}), peak {memory.activation_bytes / 2**20:.3f} MiB")
    result = dict(memory.as_dict(), source=source, input_size=FLAGS.input_size,
                  bytes_per_value=FLAGS.bytes, block_peaks=list(memory.block_peaks) or None)
    if FLAGS.json:
        print(json.dumps(result))
        return
    mib = 2 ** 20
    print(f"{source} at {FLAGS.input_size}x{FLAGS.input_size}, bytes per value: {FLAGS.bytes}, "
          f"{FLAGS.schedule} schedule")
    print(f"  parameters    {memory.params:>12,d}  {memory.param_bytes / mib:9.3f} MiB")
    print(f"  intermediate  {'peak':>12}  {memory.activation_bytes / mib:9.3f} MiB")
    print(f"  total         {'':>12}  {memory.total_bytes / mib:9.3f} MiB")
    for b, peak in enumerate(memory.block_peaks, start=1):
        print(f"  block {b} peak  {'':>12}  {peak / mib:9.3f} MiB")


if __name__ == "__main__":
    define_flags()
    app.run(main)
