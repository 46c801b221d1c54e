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



def block_graph(block, in_shape, filters, stride, prefix="b1", primitives=False):
    """Nodes of one block, node 0 being its input; returns (nodes, index of the output node).

    Figure 3, rule 1: the nodes are the block input, every operation layer's output, every
    cell's combine output and the block's final concatenation; BatchNorm and activations are
    fused into the layer before them, and an identity makes no node unless it has to project.
    Names match the layers network.build_model creates, one node per operation layer; with
    `primitives`, one per tensor the layer computes (cells.op_tensors): the last keeps the
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
            for k, (shape, params) in enumerate(cells.op_tensors(op, nodes[last].shape,
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
