"""Execution orders of a node graph (graph.Node: a name, a size and the nodes it reads), and
the order with the lowest peak of live memory (lifetime.py's ``optimal`` schedule), found by an
exact search. Plain Python: no Keras, no NumPy.
"""

import heapq
import math


def positions(n, order=None):
    """position[k]: the step at which node k runs in `order` (node indices; None: program
    order)."""
    position = list(range(n))
    for t, k in enumerate(order or ()):
        position[k] = t
    return position


# Sets of computed nodes the exact search may meet before it gives up. A chain of n nodes has
# n + 1 of them, but branches side by side multiply their counts (5^k for k cells of two layers
# that all read the block input), and the search meets only those it cannot rule out. 200,000
# took 0.5 to 9 s here (more the more nodes are ready at once) and about 100 MB: about as much
# as one measurement should cost, while the blocks and keras.applications models measured in
# docs/memory.md met at most about 8,000 (NASNetMobile; sampled blocks 1,425).
MAX_STATES = 200_000


def optimal_order(nodes, sizes=None, max_states=None):
    """(order, peak): a topological order of `nodes` with the lowest peak under the strict
    memory model, as a tuple of node indices; program order whenever program order is optimal.
    `sizes` as in `analyze` (None: the nodes' own).

    A down-set S is a set of computed nodes that holds the inputs of each of its nodes. With
    F(S) the nodes outside S whose inputs are all in S, and live(S) the nodes of S that a node
    outside S still reads or that nothing reads (outputs, never deleted):

        cost(S, v) = live(S) + size(v)       # computing v, v in F(S): its inputs are in live(S)
        f({}) = 0
        f(S') = min over S' = S + {v} of max(f(S), cost(S, v))    # the best peak to reach S'
        peak = f(V)

        live(S + {v}) = live(S) + size(v) - (inputs of v that no node outside S + {v} reads)

    f is a bottleneck shortest path, computed in increasing f (Dijkstra), so no set whose f is
    above the peak is expanded; ties go to the larger set, then to the smaller bit mask (the
    earlier nodes). Two cuts keep it exact: no step above program order's peak (program order
    needs none), and from S a step v with cost(S, v) <= max(f(S), floor) that frees at least
    size(v) is the only one tried (floor: a peak no order avoids, see below). Moving such a v
    first in any finish from S lowers the live size of every later step and adds one step no
    higher than a peak that order pays anyway.

    Raises ValueError past `max_states` down-sets (None: MAX_STATES, read at each call, so that
    setting orders.MAX_STATES reaches analyze, arch_memory and model_memory too), naming the
    graph's size and the budget.
    """
    sets = _DownSets(nodes, sizes, MAX_STATES if max_states is None else max_states)
    n, sizes = len(nodes), sets.sizes
    bound = _program_order_peak(sets, n)
    # Every order computes each node beside its inputs and ends with every output live. Most
    # blocks here reach that floor in program order (at their output concatenation), and so do
    # most keras.applications models (at their first, largest layers): then program order is
    # optimal, and nothing needs searching.
    shrinks = [sum(sizes[i] for i in sets.inputs[k]) >= sizes[k] for k in range(n)]
    floor = max(max(sizes[k] + sum(sizes[i] for i in sets.inputs[k]) for k in range(n)),
                sum(sizes[k] for k in range(n) if not sets.readers[k]))
    if bound == floor:
        return tuple(range(n)), bound
    best, came, heap, full = {0: 0}, {}, [(0, 0, 0)], (1 << n) - 1
    while True:
        peak, depth, s = heapq.heappop(heap)
        if s == full:
            break
        if peak > best[s]:
            continue
        live, ready = sets.seen[s]
        steps, cap = list(_steps(s, ready)), max(peak, floor)
        for v, t in steps:
            if shrinks[v] and live + sizes[v] <= cap and sets.freed(t, v) >= sizes[v]:
                steps = [(v, t)]
                break
        for v, t in steps:
            f = max(peak, live + sizes[v])
            if f <= bound and f < best.get(t, math.inf):
                sets.add(t, s, v)
                best[t], came[t] = f, v
                heapq.heappush(heap, (f, depth - 1, t))
    if peak == bound:
        return tuple(range(n)), bound
    order = []
    while full:
        order.append(came[full])
        full ^= 1 << order[-1]
    return tuple(reversed(order)), peak


class _DownSets:
    """The down-sets of one graph met so far, as bit masks: seen[S] = (live(S), F(S))."""

    def __init__(self, nodes, sizes, max_states):
        n = len(nodes)
        self.sizes = tuple(node.size for node in nodes) if sizes is None else tuple(sizes)
        self.max_states = max_states
        self.name = f"the graph of {n} nodes ending in {nodes[-1].name!r}" if n else "no graph"
        self.inputs, self.needs, self.readers = [], [0] * n, [0] * n  # needs, readers: masks
        ready = 0
        for k, node in enumerate(nodes):
            self.inputs.append(set(node.inputs))
            for i in self.inputs[k]:
                if i >= k:
                    raise ValueError(f"node {node.name}: reads a node that comes after it")
                self.needs[k] |= 1 << i
                self.readers[i] |= 1 << k
            if not self.needs[k]:
                ready |= 1 << k
        self.seen = {0: (0, ready)}

    def freed(self, t, v):
        """Size of the inputs of v that nothing outside t = S + {v} reads: deleted after v."""
        return sum(self.sizes[u] for u in self.inputs[v] if not self.readers[u] & ~t)

    def add(self, t, s, v):
        """Meet t = s + {v}; its live size and F depend on t alone, so the first way counts."""
        if t in self.seen:
            return
        live, ready = self.seen[s]
        ready ^= 1 << v
        for c, _ in _steps(0, self.readers[v]):
            if not self.needs[c] & ~t:
                ready |= 1 << c
        self.seen[t] = (live + self.sizes[v] - self.freed(t, v), ready)
        if len(self.seen) > self.max_states:
            raise ValueError(f"optimal schedule: {self.name} has more than {self.max_states:,} "
                             "sets of computed nodes to search; use --schedule=strict, or "
                             "raise max_states (orders.MAX_STATES)")


def _program_order_peak(sets, n):
    """Strict's peak in program order: max over v of cost({0, ..., v - 1}, v)."""
    peak, s = 0, 0
    for v in range(n):
        peak = max(peak, sets.seen[s][0] + sets.sizes[v])
        sets.add(s | 1 << v, s, v)
        s |= 1 << v
    return peak


def _steps(s, ready):
    """(v, S + {v}) for each v of the bit mask `ready`, smallest v first."""
    while ready:
        bit = ready & -ready
        ready ^= bit
        yield bit.bit_length() - 1, s | bit
