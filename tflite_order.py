"""A .tflite file's operators run in another order (lifetime.arch_order's memory-optimal one),
and its arena laid out by an offline memory plan that TensorFlow Lite Micro follows: what
export.py --schedule=optimal writes. Everything but the operator list, the tensor numbering and
the plan stays as the converter wrote it.
"""
import re

import numpy as np

import tflm


def schema():
    """The TFLite flatbuffer schema's Python classes (tflite_micro's copy)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    return schema_py_generated



LAYER_SUFFIX = re.compile(r"_\d+$")  # model.export() appends _1 to each layer's name


def _layer(tensor_name, layers):
    """The layer of `layers` whose name is a component of a converted tensor's name
    ("memnas_1/b1_c1_l1_dwconv3x3_1/batch_normalization_1/..."), or None."""
    for part in re.split(r"[/;:]", tensor_name):
        name = LAYER_SUFFIX.sub("", part)
        if name in layers:
            return name
    return None


def _renumber(model, graph):
    """Number the tensors operators compute in the order they now run, the others (input,
    constants) first as they were: TFLM's planner breaks ties between equal buffers by tensor
    number, and tflm.planned_arena by execution order."""
    produced = [t for op in graph.operators for t in op.outputs]
    kept = sorted(set(range(len(graph.tensors))) - set(produced))
    new = {old: i for i, old in enumerate(kept + produced)}
    graph.tensors = [graph.tensors[old] for old in kept + produced]
    for op in graph.operators:
        op.inputs = [new[t] if t >= 0 else t for t in op.inputs]
        op.outputs = [new[t] for t in op.outputs]
        if op.intermediates is not None:
            op.intermediates = [new[t] for t in op.intermediates]
    graph.inputs = [new[t] for t in graph.inputs]
    graph.outputs = [new[t] for t in graph.outputs]
    for signature in model.signatureDefs or []:
        for tensor in (signature.inputs or []) + (signature.outputs or []):
            tensor.tensorIndex = new[tensor.tensorIndex]


# Bytes per value of the TFLite tensor types (schema.TensorType) an exported network uses.
TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1}
OFFLINE_PLAN = b"OfflineMemoryAllocation"  # TFLM's metadata name for an offline memory plan


def file_buffers(graph):
    """(tensor numbers, (sizes, first steps, last steps)) of the tensors a subgraph's operators
    compute and its input, as tflm.buffers gives them for nodes: what TFLM plans."""
    value_bytes = {t: TYPE_BYTES[tensor.type] for t, tensor in enumerate(graph.tensors)
                   if tensor.type in TYPE_BYTES}
    first, last = {}, {}
    for t in graph.inputs:
        first[t] = last[t] = 0
    for step, op in enumerate(graph.operators, start=1):
        for t in op.inputs:
            if t in first:
                last[t] = step
        for t in op.outputs:
            first[t] = last[t] = step
    for t in graph.outputs:
        last[t] = len(graph.operators)
    tensors = sorted(first)
    sizes = [-(-int(np.prod(graph.tensors[t].shape)) * value_bytes[t]
               // tflm.TFLM_ALIGNMENT) * tflm.TFLM_ALIGNMENT for t in tensors]
    return tensors, (sizes, [first[t] for t in tensors], [last[t] for t in tensors])


def _plan_offline(model, graph):
    """Write tflm.best_plan's offsets into the model as TFLM's offline memory plan
    (metadata "OfflineMemoryAllocation": version 1, subgraph 0, the tensor count, then one
    offset per tensor, -1 for those TFLM plans itself), so that TFLM lays the arena out as
    planned instead of with its greedy planner, whose gaps can waste the lower peak of a
    better operator order. Replaces any plan already there."""
    fb = schema()
    tensors, (sizes, first, last) = file_buffers(graph)
    offsets = np.full(len(graph.tensors), -1, np.int32)
    offsets[tensors] = tflm.best_plan(sizes, first, last)
    header = np.array([1, 0, len(graph.tensors)], np.int32)
    buffer = fb.BufferT()
    buffer.data = np.concatenate([header, offsets]).view(np.uint8)
    model.buffers.append(buffer)
    metadata = fb.MetadataT()
    metadata.name, metadata.buffer = OFFLINE_PLAN, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != OFFLINE_PLAN] + [metadata]


def reorder(tflite, order):
    """The .tflite file `tflite` (bytes) with its operators run in `order`: lifetime node names
    (`lifetime.arch_order`: a layer's output tensor is its name, the tensors inside it NAME/0,
    NAME/1, ...). Each operator is matched to its layer through its output tensor's name, and
    the k-th operator of a layer to its k-th tensor; the operators are then sorted
    topologically, the ready one earliest in `order` first, so a valid `order` is followed
    exactly, and an operator that matches nothing (the converter's own) runs once it is ready.
    The tensors the operators compute are renumbered in the new order (`_renumber`), and the
    arena is laid out offline (`_plan_offline`); weights and everything else stay as they
    are."""
    import flatbuffers
    fb = schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(tflite, 0))
    graph = model.subgraphs[0]
    rank = {name: i for i, name in enumerate(order)}
    layers = {name.split("/")[0] for name in order}
    by_layer = {}
    for j, op in enumerate(graph.operators):
        name = _layer(graph.tensors[op.outputs[0]].name.decode(), layers)
        by_layer.setdefault(name, []).append(j)
    priority = [-1] * len(graph.operators)  # unmatched: as soon as ready
    for name, ops in by_layer.items():
        if name is None:
            continue
        inner = sorted((n for n in rank if n.split("/")[0] == name), key=rank.get)
        for k, j in enumerate(ops):
            priority[j] = rank[inner[k]] if len(inner) == len(ops) else rank[name]
    producer = {t: j for j, op in enumerate(graph.operators) for t in op.outputs}
    waiting = [{producer[t] for t in op.inputs if t in producer} for op in graph.operators]
    done, ready, operators = set(), [], []
    while len(operators) < len(graph.operators):
        ready = [j for j in range(len(graph.operators))
                 if j not in done and waiting[j] <= done]
        j = min(ready, key=lambda j: (priority[j], j))
        done.add(j)
        operators.append(graph.operators[j])
    graph.operators = operators
    _renumber(model, graph)
    _plan_offline(model, graph)
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
