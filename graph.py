"""The graph of a network for memory analysis: its nodes, the intermediate representations of
Figure 3, built from an Arch without Keras. lifetime.py schedules them; keras_graph.py builds the
same nodes from a Keras model.
"""

import functools
import math
import typing

import cells


class Node(typing.NamedTuple):
    """An intermediate representation: (H, W, C) without batch, the nodes it reads, and the
    folded parameter count of the layer that computes it."""
    name: str
    shape: tuple
    inputs: tuple = ()
    params: int = 0
    # Rule 3, second half (paper schedule): a cell's output stays live until this node, the
    # block output, is computed.
    hold: typing.Optional[int] = None

    @property
    def size(self):
        return math.prod(self.shape)


@functools.lru_cache(maxsize=1 << 12)
def op_tensors(op, in_shape, filters, stride):
    """The tensors operation layer `op` computes from an (H, W, C) input, one per primitive
    layer of OPS that a deployed network keeps (BatchNorm and ReLU fuse into the conv before
    them): ((shape, folded params), ...), the last being the layer's output. A dilated conv is
    four tensors as the converter lowers it (`dilated_tensors`), and if it must stride it runs
    at stride 1 and is then subsampled (a 1x1 max pool), as network.build_model does. Their
    params add up to `cells.op_params(op, in_shape[-1], filters)` (None counts as 0)."""
    h, w, c = in_shape
    out = []
    for spec in cells.OPS[op]:
        if type(spec) is cells.Pool:
            h, w = -(-h // stride), -(-w // stride)  # 'same' padding rounds up
            out.append(((h, w, c), 0))
        elif type(spec) is cells.Depthwise:
            h, w = -(-h // stride), -(-w // stride)
            out.append(((h, w, c), spec.kernel * spec.kernel * c + c))
        elif spec.dilation > 1:
            out += dilated_tensors(spec.kernel, spec.dilation, (h, w, c), filters)
            h, w, c = -(-h // stride), -(-w // stride), filters
            if stride > 1:
                out.append(((h, w, c), 0))  # the subsampling 1x1 max pool
        else:
            sh, sw = (stride if axis in spec.strided else 1 for axis in (0, 1))
            params = math.prod(spec.kernel) * c * filters + filters
            h, w, c = -(-h // sh), -(-w // sw), filters
            out.append(((h, w, c), params))
    return tuple(out)


def dilated_tensors(kernel, dilation, in_shape, filters):
    """The tensors of a dilated conv (stride 1) as TensorFlow Lite's converter lowers it (TF
    2.21): SPACE_TO_BATCH_ND (the padded input split into dilation^2 images, whose static shape
    says batch 1, and TFLite-Micro plans that), a plain conv on it, BATCH_TO_SPACE_ND back, and
    a MUL (the BatchNorm scale, not folded into a dilated conv). The space-to-batch tensor
    depends on the input alone, and the converter computes it once for all the dilated convs
    that read one input: its params are None, the mark `_cell_nodes` shares it by."""
    h, w, c = in_shape
    d, (kh, kw) = dilation, kernel
    sh, sw = -(-(h + d * (kh - 1)) // d), -(-(w + d * (kw - 1)) // d)
    return (((sh, sw, c), None),
            ((sh - kh + 1, sw - kw + 1, filters), kh * kw * c * filters + filters),
            ((h, w, filters), 0), ((h, w, filters), 0))


def block_graph(block, in_shape, filters, stride, prefix="b1", primitives=False):
    """Nodes of one block, node 0 being its input; returns (nodes, index of the output node).

    Figure 3, rule 1: the nodes are the block input, every operation layer's output, every
    cell's combine output and the block's final concatenation; BatchNorm and activations are
    fused into the layer before them, and an identity makes no node unless it has to project.
    Names match the layers network.build_model creates, one node per operation layer; with
    `primitives`, one per tensor the layer computes (op_tensors): the last keeps the
    layer's name, the ones before it are NAME/0, NAME/1, ...
    """
    nodes, loc = _cell_nodes(block, tuple(in_shape), filters, stride, prefix, primitives)
    nodes = list(nodes)
    outputs = [loc[j] for j, cell in enumerate(block, start=1) if cell.output]
    if len(outputs) == 1:
        out = outputs[0]
    else:
        channels = sum(nodes[k].shape[-1] for k in outputs)
        nodes.append(Node(f"{prefix}_out", (*nodes[-1].shape[:2], channels), tuple(outputs)))
        out = len(nodes) - 1
    # Rule 3: cell outputs live until the block output. A cell that is a bare identity is its
    # input's node, the block input included, and holds that.
    for k in set(loc[1:]) - {out}:
        name, shape, inputs, params, _ = nodes[k]  # not _replace: this runs for every block
        nodes[k] = Node(name, shape, inputs, params, out)
    return nodes, out


@functools.lru_cache(maxsize=1 << 9)  # a round reuses its base's prefixes only
def _cell_nodes(block, in_shape, filters, stride, prefix, primitives=False):
    """(nodes, node index of each location) of a block's cells, output node not yet added.

    Built as the nodes of all cells but the last, then the last cell's: a grown candidate's
    blocks are its base's blocks plus one cell, so the cache serves all but that cell.
    """
    if not block:
        return (Node("input", in_shape),), (0,)
    nodes, loc = _cell_nodes(block[:-1], in_shape, filters, stride, prefix, primitives)
    nodes, j = list(nodes), len(block)
    h, w = -(-in_shape[0] // stride), -(-in_shape[1] // stride)  # 'same' padding rounds up
    cell, outs = block[-1], []
    for i, (src, op) in enumerate(cell.layers, start=1):
        s, cin = stride if src == 0 else 1, nodes[loc[src]].shape[-1]  # outputs: downsampled
        if cells.makes_no_layer(op, s, cin, filters):
            outs.append(loc[src])
            continue
        name = cells.op_layer_name(prefix, j, i, op)
        if primitives:
            last = loc[src]
            for k, (shape, params) in enumerate(op_tensors(op, nodes[last].shape,
                                                           filters, s)):
                if params is None:  # shared by every layer that reads this input
                    found = [n for n, node in enumerate(nodes) if node.inputs == (last,)
                             and node.shape == shape and node.name.endswith("/0")]
                    if found:
                        last = found[0]
                        continue
                nodes.append(Node(f"{name}/{k}", shape, (last,), params or 0))
                last = len(nodes) - 1
            nodes[-1] = nodes[-1]._replace(name=name)
        else:
            nodes.append(Node(name, (h, w, filters), (loc[src],),
                              cells.op_params(op, cin, filters)))
        outs.append(len(nodes) - 1)
    if len(outs) > 1:
        channels = filters if cell.combine == "sum" else sum(nodes[k].shape[-1] for k in outs)
        nodes.append(Node(f"{prefix}_c{j}_{cell.combine}", (h, w, channels), tuple(outs)))
        outs = [len(nodes) - 1]
    return tuple(nodes), loc + (outs[0],)


def stem_graph(input_shape, filters):
    image = Node("image", tuple(input_shape))
    return [image, Node("stem", (*input_shape[:2], filters), (0,),
                        cells.op_params("conv3x3", input_shape[-1], filters))], 1


def head_graph(in_shape, num_classes):
    c = in_shape[-1]
    return [Node("input", tuple(in_shape)), Node("gap", (c,), (0,)),
            Node("logits", (num_classes,), (1,), c * num_classes + num_classes)], 2


def network_parts(arch, filters, input_shape, num_classes, strides, widths, primitives=False):
    """The stem, each block and the head as separate graphs, each one's node 0 its input."""
    nodes, out = stem_graph(input_shape, filters)
    parts = [(nodes, out)]
    shape = nodes[out].shape
    for b, (block, s, width) in enumerate(zip(arch.blocks, strides, widths), start=1):
        nodes, out = block_graph(block, shape, filters * width, s, f"b{b}", primitives)
        parts.append((nodes, out))
        shape = nodes[out].shape
    parts.append(head_graph(shape, num_classes))
    return parts


def arch_graph(arch, filters=64, input_shape=(32, 32, 3), num_classes=10,
               strides=cells.BLOCK_STRIDES, widths=cells.BLOCK_WIDTHS, primitives=False):
    """The whole network as one node list: each part's input is the previous part's output.
    `primitives` as in `block_graph`."""
    arch = cells.prune(arch, len(strides))
    return join(network_parts(arch, filters, input_shape, num_classes, strides, widths,
                              primitives))


def join(parts):
    """One node list of `parts` [(nodes, output index), ...] run one after the other: each
    part's node 0 stands for the previous part's output node."""
    nodes, out = list(parts[0][0]), parts[0][1]
    for part, part_out in parts[1:]:
        index = [out] + list(range(len(nodes), len(nodes) + len(part) - 1))
        for node in part[1:]:
            nodes.append(node._replace(inputs=tuple(index[i] for i in node.inputs),
                                       hold=None if node.hold is None else index[node.hold]))
        if part[0].hold is not None:  # the part's input is held, as the previous output node
            nodes[out] = nodes[out]._replace(hold=index[part[0].hold])
        out = index[part_out]
    return nodes
