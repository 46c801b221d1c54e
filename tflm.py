"""A network as TensorFlow Lite Micro deploys it: every tensor a buffer (rounded up to TFLM's
alignment) live from the step that computes it to the last step that reads it, laid out in one
arena by TFLM's greedy planner (``place``, replayed) or by an offline plan (``best_plan``), and
its parameters stored as int8 weights with int32 biases. lifetime.py's ``tflm`` schedule is
``planned_arena``; export.py checks both against the arena TFLM allocates.
"""

import bisect
import math

import orders



TFLM_ALIGNMENT = 16  # bytes: TFLM rounds every buffer up to this (kBufferAlignment)


def buffers(nodes, bytes_per_value=1, order=None):
    """(sizes in bytes, first step, last step) of `nodes` as a runtime's buffers: strict's
    lifetimes, run in `order` (None: program order), from the step that computes a node to the
    last step that reads it (the network's outputs to the end); each size rounded up to
    TFLM_ALIGNMENT."""
    sizes = [-(-math.prod(n.shape) * bytes_per_value // TFLM_ALIGNMENT) * TFLM_ALIGNMENT
             for n in nodes]
    position = orders.positions(len(nodes), order)
    last = position[:]
    for k, node in enumerate(nodes):
        for i in node.inputs:
            last[i] = max(last[i], position[k])
    read = {i for node in nodes for i in node.inputs}
    for k in set(range(len(nodes))) - read:  # an output: live to the end
        last[k] = len(nodes) - 1
    return sizes, position, last


def place(sizes, first, last, key=None):
    """Offsets of buffers (sizes, first and last step) placed one by one in the order of
    `key(b)` (None: TFLite-Micro's, below), each at the lowest offset where it overlaps no
    placed buffer live at the same time:

        offset(b) = min { o >= 0 : [o, o + size(b)) misses every placed b' live with b }
        arena = max over b of offset(b) + size(b)

    TFLite-Micro's greedy planner (tensorflow/lite/micro/memory_planner/greedy_memory_planner.cc)
    takes the largest first, ties in reverse tensor order; the converter numbers tensors in the
    order it runs them (tflite_order.reorder renumbers them in the order it writes), hence the key
    (-size, -first step)."""
    key = key or (lambda b: (-sizes[b], -first[b]))
    placed, offsets = [], [0] * len(sizes)  # placed: (offset, buffer), sorted by offset
    for b in sorted(range(len(sizes)), key=key):
        offset = 0
        for at, other in placed:
            if first[other] > last[b] or first[b] > last[other]:
                continue  # never live together
            if at - offset >= sizes[b]:
                break  # the gap below `other` is big enough
            offset = max(offset, at + sizes[other])
        offsets[b] = offset
        bisect.insort(placed, (offset, b))
    return offsets


def arena(sizes, offsets):
    return max((o + s for o, s in zip(offsets, sizes)), default=0)


def planned_arena(nodes, bytes_per_value=1, order=None, best=False):
    """Bytes of the arena TFLite-Micro's own planner (`place`) lays `nodes` out in, run in
    `order` (None: program order); with `best`, of `best_plan`'s layout instead. At least
    strict's peak, and more where a gap left early is too small for a later buffer (a round-0
    dwconv3x3 + maxpool3x3 network: 4 buffers' worth where 3 are live)."""
    sizes, first, last = buffers(nodes, bytes_per_value, order)
    return arena(sizes, (best_plan if best else place)(sizes, first, last))


def best_plan(sizes, first, last):
    """Offsets that lay the buffers out in the smallest arena found by `place` in a few orders:
    TFLite-Micro's, largest first with ties to the earliest, longest-lived first, largest
    (lifetime x size) first, and by first step. Never above TFLite-Micro's own plan; at or near
    the largest sum of live sizes (laying out intervals in the least memory is NP-hard in
    general, so not always at it). export.py writes it into the .tflite as an offline plan."""
    keys = (None, lambda b: (-sizes[b], first[b]), lambda b: (first[b] - last[b], -sizes[b]),
            lambda b: ((first[b] - last[b] - 1) * sizes[b], first[b]),
            lambda b: (first[b], -sizes[b]))
    plans = [place(sizes, first, last, key) for key in keys]
    return min(plans, key=lambda offsets: arena(sizes, offsets))


def int8_param_bytes(nodes):
    """Parameter bytes of `nodes` deployed as int8: int8 weights and one int32 bias per output
    channel of every layer with parameters (BatchNorm folds into the conv before it, which gains
    the bias): params + 3 x biases. Needs the tensors as nodes (`primitives`): a dwconv layer
    has two biases, its depthwise's and its pointwise's."""
    return sum(n.params + 3 * n.shape[-1] for n in nodes if n.params)
