"""Weight inheritance: a grown or trimmed candidate starts from its base's trained weights
(network morphism, as in Net2Net).

A candidate differs from its base by one new output cell in every block (grown) or by one layer,
cell or output role in one block (trimmed), and both come back in canonical form, which may
reorder cells. Keras layer names (`b2_c3_l1_conv3x3`) are positions, not identities, so the
child is matched to the parent by structure, block by block (`matching.match_block`); this
module follows every channel of the child back to the parent channel it stands for (a *channel
map*), and copies the weights with their input channels permuted, cut or zero-padded
(`inherit`).

Growth is function preserving: the new cell's own layers keep their build-time initialization
and every weight that reads its channels starts at zero, so a grown candidate's logits equal its
base's until fine-tuning moves them. The one exception is the search space's, not this
module's: an `identity` that projected in the base and has no layer at all in the child (its
input grew to exactly the block's width) cannot compute the projection; the report says so.
"""

import dataclasses

import numpy as np

import cells
import matching
import network


@dataclasses.dataclass
class Inheritance:
    """What a child inherited, counted in Keras layers that hold weights (operation layers,
    the stem and the classifier).

    `copied`: all weights as they are. `sliced`: copied with input channels permuted, cut or
    zero-padded, or set to the identity (a bare identity of the parent that now projects).
    `fresh`: build-time initialization. `dropped`: parent layers no child layer inherited.
    `notes`: why the child does not compute the parent's function; none for every grown
    candidate but the exception in the module docstring.
    """
    copied: int = 0
    sliced: int = 0
    fresh: int = 0
    dropped: int = 0
    notes: list = dataclasses.field(default_factory=list)

    @property
    def exact(self):
        """True if the child computes the parent's function before any training."""
        return not self.notes

    def describe(self):
        """One line: the counts, and whether the function is kept (with the first reason)."""
        kept = ("computes the parent's function" if self.exact else
                f"does not compute the parent's function ({self.notes[0]})")
        return (f"{self.copied} layers copied, {self.sliced} sliced, {self.fresh} fresh, "
                f"{self.dropped} dropped; {kept}")


# ---------------------------------------------------------------------------------------------
# Weight surgery (numpy): one Keras layer at a time
# ---------------------------------------------------------------------------------------------
#
# A channel map `m` describes a child tensor against its paired parent tensor: child channel c
# holds parent channel m[c], or is new (m[c] = -1) and holds something the parent never had.

def _take(base, parent, channel_map, axis):
    """`base` with its slices along `axis` replaced, for each child channel c that the parent
    had, by the parent's slice m[c]; new channels keep `base`'s slice."""
    out = np.array(base, copy=True)
    keep = np.flatnonzero(channel_map >= 0)
    into = [slice(None)] * out.ndim
    into[axis] = keep
    src = [slice(None)] * out.ndim
    src[axis] = channel_map[keep]
    out[tuple(into)] = np.asarray(parent)[tuple(src)]
    return out


def _check_shapes(child, parent, name, axis=None):
    """ValueError unless the weights agree in shape, except along the input-channel `axis`."""
    for c, p in zip(child, parent):
        c_shape, p_shape = list(c.shape), list(p.shape)
        if axis is not None:
            c_shape[axis] = p_shape[axis] = None
        if c_shape != p_shape:
            raise ValueError(f"parent model: layer {name} has weights of shape {p.shape}, "
                             f"expected {c.shape}: the parent model is not parent_arch")


def _copy_sublayers(child, parent, in_map):
    """Copy the primitive layers of one operation layer (a Keras Sequential) from `parent` to
    `child`, which differ at most in input channels, the child's read through `in_map`.

    This is the rule that makes growth function preserving. The first layer that mixes input
    channels (a conv, the pointwise conv of a depthwise op) gets zero weights for every new
    input channel, so whatever the new channels hold never reaches its output, and the parent's
    weights, permuted, for the others; from there on the channels are the parent's own, copied
    as they are. Per-channel layers before it (the depthwise conv and its BatchNorm: gamma,
    beta, moving mean and variance) take the parent's slices and keep their build-time values
    on new channels, whose outputs the zeroed pointwise weights discard. Pools and ReLUs hold
    nothing. Returns True if every input channel was the parent's, in the parent's order.
    """
    from keras import layers
    identity = in_map is None or (len(in_map) == parent.layers[0].get_weights()[0].shape[2]
                                  and np.array_equal(in_map, np.arange(len(in_map))))
    for c_layer, p_layer in zip(child.layers, parent.layers):
        new, old = c_layer.get_weights(), p_layer.get_weights()
        if not new:
            continue
        if in_map is None:  # past the channel mixing: the parent's channels, as they are
            _check_shapes(new, old, child.name)
            c_layer.set_weights(old)
        elif isinstance(c_layer, layers.Conv2D):  # (kh, kw, cin, cout): zeros for new cin
            _check_shapes(new, old, child.name, axis=2)
            c_layer.set_weights([_take(np.zeros_like(new[0]), old[0], in_map, axis=2)])
            in_map = None
        else:  # depthwise (kh, kw, cin, 1) or BatchNorm 4 x (cin,): per input channel
            axis = 2 if isinstance(c_layer, layers.DepthwiseConv2D) else 0
            _check_shapes(new, old, child.name, axis)
            c_layer.set_weights([_take(n, o, in_map, axis) for n, o in zip(new, old)])
    return identity


def _identity_projection(child, in_map):
    """Set an identity's projection (1x1 conv, BatchNorm) to pass child channel c through as
    output channel m[c] and drop new channels: the parent had no layer there, its identity
    passed the block input through, and now the input has more channels than the output."""
    conv, bn = child.layers
    kernel = np.zeros(conv.get_weights()[0].shape, np.float32)  # (1, 1, cin, filters)
    keep = np.flatnonzero(in_map >= 0)
    kernel[0, 0, keep, in_map[keep]] = 1.0
    conv.set_weights([kernel])
    # BatchNorm at inference: gamma * (x - mean) / sqrt(var + eps) + beta, so this is x.
    ones = np.ones(kernel.shape[-1], np.float32)
    bn.set_weights([ones * np.sqrt(1 + bn.epsilon), 0 * ones, 0 * ones, ones])


def _copy_dense(child, parent, in_map):
    """The classifier: kernel rows (in_channels, classes) read through `in_map`, zero for new
    channels; the bias as it is."""
    kernel, bias = parent.get_weights()
    new_kernel = child.get_weights()[0]
    _check_shapes([new_kernel], [kernel], child.name, axis=0)
    child.set_weights([_take(np.zeros_like(new_kernel), kernel, in_map, axis=0), bias])


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------

def _channels(block, in_channels, filters):
    """Channels of each location: the block input's, then each cell's (a concat of two
    layers doubles the block's filter count)."""
    return [in_channels] + [2 * filters if len(c.layers) == 2 and c.combine == "concat"
                            else filters for c in block]


def _output_offsets(block, channels):
    """Where each output cell's channels start in the block output (the concat, in order)."""
    offsets, at = {}, 0
    for j, cell in enumerate(block, start=1):
        if cell.output:
            offsets[j] = at
            at += channels[j]
    return offsets, at


def _bare(op, loc, channels, stride, filters):
    """True if layer `op` reading location `loc` (of a block of stride `stride`, its locations'
    `channels`) has no Keras layer: cells.makes_no_layer."""
    return cells.makes_no_layer(op, stride if loc == 0 else 1, channels[loc], filters)


def _op_layer_names(arch, filters):
    """The names of the Keras operation layers `network.build_model` gives `arch`."""
    names, in_channels = set(), filters
    for b, (block, stride, width) in enumerate(
            zip(arch.blocks, cells.BLOCK_STRIDES, cells.BLOCK_WIDTHS), start=1):
        channels = _channels(block, in_channels, filters * width)
        names.update(cells.op_layer_name(f"b{b}", j, i, op)
                     for j, cell in enumerate(block, start=1)
                     for i, (loc, op) in enumerate(cell.layers, start=1)
                     if not _bare(op, loc, channels, stride, filters * width))
        in_channels = _output_offsets(block, channels)[1]
    return names


class _Surgeon:
    """Copies one parent model into one child model, block by block, keeping the report.

    While it copies a block it holds that block's pairing and, per child location, the channel
    map against the paired parent location (`maps`; location 0 is the block input).
    """

    def __init__(self, parent_model, child_model):
        self.parent, self.child = parent_model, child_model
        self.report = Inheritance()

    def note(self, text):
        self.report.notes.append(text)

    def stem_and_head(self, in_map, parent_channels):
        """The stem as it is; the classifier reading block 5's output through `in_map`."""
        _copy_sublayers(self.child.get_layer("stem"), self.parent.get_layer("stem"), None)
        _copy_dense(self.child.get_layer("logits"), self.parent.get_layer("logits"), in_map)
        same = np.array_equal(in_map, np.arange(parent_channels))
        self.report.copied += 2 if same else 1
        self.report.sliced += 0 if same else 1

    def block(self, b, parent_block, child_block, in_map, parent_in, stride, filters):
        """Inherit block `b` (1-based) reading the channels `in_map` of the parent's `parent_in`;
        returns the channel map of its output and the parent's block output width."""
        self.b, self.parent_block, self.stride, self.filters = b, parent_block, stride, filters
        self.match = matching.match_block(parent_block, child_block)
        self.p_channels = _channels(parent_block, parent_in, filters)
        self.c_channels = _channels(child_block, len(in_map), filters)
        self.maps = [in_map]
        for j, cell in enumerate(child_block, start=1):
            outs = [self._layer(j, i, loc, op) for i, (loc, op) in enumerate(cell.layers, 1)]
            self.maps.append(self._cell_map(j, cell, outs))
        exact = {where for where in self.match.locations.values() if where[1]}
        used = set(self.match.layers.values())
        for p, cell in enumerate(parent_block, start=1):
            if (p, True) not in exact:
                self.note(f"block {b}, parent cell {p}: no child cell computes it")
            self.report.dropped += sum(
                1 for k, (loc, op) in enumerate(cell.layers, start=1)
                if (p, k) not in used and not _bare(op, loc, self.p_channels, stride, filters))
        return self._output_map(child_block)

    def _output_map(self, child_block):
        """The block output's channel map against the parent's block output (a concat of the
        output cells, in each network's own cell order) and the parent's output width."""
        offsets, width = _output_offsets(self.parent_block, self.p_channels)
        out = []
        for j, cell in enumerate(child_block, start=1):
            p = self.match.locations.get(j, (None,))[0]
            if cell.output:  # a child cell whose parent is outside the parent's output is new
                m = self.maps[j]
                out.append(np.where(m >= 0, m + offsets[p], -1) if p in offsets
                           else np.full_like(m, -1))
        out_map = np.concatenate(out)
        counts = np.bincount(out_map[out_map >= 0], minlength=width)
        if np.any(counts != 1):
            self.note(f"block {self.b} output: parent channels "
                      f"{np.flatnonzero(counts != 1).tolist()} are missing or repeated")
        return out_map, width

    def _layer(self, j, i, loc, op):
        """Inherit child layer i of cell j; returns the channel map of its output against the
        paired parent layer's output (-1 everywhere if it has no parent)."""
        b, filters = self.b, self.filters
        c_bare = _bare(op, loc, self.c_channels, self.stride, filters)
        pair = self.match.layers.get((j, i))
        if pair is None:
            self.report.fresh += 0 if c_bare else 1
            return np.full(filters, -1)
        p, k = pair
        p_loc = self.parent_block[p - 1].layers[k - 1][0]
        p_bare = _bare(op, p_loc, self.p_channels, self.stride, filters)
        if c_bare and p_bare:  # both pass their input through
            return self.maps[loc]
        if c_bare:
            self.note(f"block {b}, cell {j}: the parent's identity projected its input, the "
                      "child's has no layer (its input now has exactly the block's width)")
            self.report.dropped += 1
            return np.arange(filters)
        child = self.child.get_layer(cells.op_layer_name(f"b{b}", j, i, op))
        if p_bare:
            _identity_projection(child, self.maps[loc])
            self.report.sliced += 1
        elif _copy_sublayers(child,
                             self.parent.get_layer(cells.op_layer_name(f"b{b}", p, k, op)),
                             self.maps[loc]):
            self.report.copied += 1
        else:
            self.report.sliced += 1
        return np.arange(filters)

    def _cell_map(self, j, cell, outs):
        """Channel map of child cell j's output against its paired parent cell's output: its
        layers' maps, concatenated in the child's layer order or, for a sum, shared.

        In a trimmed cell, a child layer with no heir's place in the parent cell (an op that
        became identity, a rewired input) stands for a parent layer of the cell that has no heir
        either, so that the channels reading it keep their slices.
        """
        concat = len(outs) == 2 and cell.combine == "concat"
        if j not in self.match.locations:  # a new cell: all its channels are new
            return np.full(len(outs) * self.filters if concat else self.filters, -1)
        p, exact = self.match.locations[j]
        p_cell = self.parent_block[p - 1]
        p_concat = len(p_cell.layers) == 2 and p_cell.combine == "concat"
        places = {i: k for (c, i), (q, k) in self.match.layers.items() if (c, q) == (j, p)}
        spare = [k for k in range(1, len(p_cell.layers) + 1) if k not in places.values()]
        maps = []
        for i, m in enumerate(outs, start=1):
            if i not in places and spare:
                places[i], m = spare.pop(0), np.arange(self.filters)
            if i in places and p_concat:  # the parent layer's place in the parent's concat
                m = np.where(m >= 0, m + (places[i] - 1) * self.filters, -1)
            maps.append(m)
        if concat:
            return np.concatenate(maps)
        if exact and not all(np.array_equal(m, maps[0]) for m in maps):
            self.note(f"block {self.b}, cell {j}: the sum adds channels in different orders")
        return maps[0] if len(maps) == 1 else np.where(maps[0] >= 0, maps[0], maps[1])




def check_parent(parent_model, parent_arch, child_arch, filters, num_classes, input_shape):
    """One ValueError naming the rule if the parent model is not of the child's template."""
    parent_arch, child_arch = cells.prune(parent_arch), cells.prune(child_arch)
    stem_filters = parent_model.get_layer("stem").layers[0].get_weights()[0].shape[-1]
    if stem_filters != filters:
        raise ValueError(f"width: the parent model has {stem_filters} filters (its stem), "
                         f"the child {filters}; inherit from a parent of the same --filters")
    if len(parent_arch.blocks) != len(child_arch.blocks) or len(child_arch.blocks) != len(
            cells.BLOCK_STRIDES):
        raise ValueError(f"block count: the parent has {len(parent_arch.blocks)} blocks, the "
                         f"child {len(child_arch.blocks)}, the template "
                         f"{len(cells.BLOCK_STRIDES)}")
    if tuple(parent_model.input_shape[1:]) != tuple(input_shape):
        raise ValueError(f"input shape: the parent model reads {parent_model.input_shape[1:]}, "
                         f"the child {tuple(input_shape)}")
    classes = parent_model.get_layer("logits").get_weights()[1].shape[0]
    if classes != num_classes:
        raise ValueError(f"classes: the parent model has {classes} logits, the child "
                         f"{num_classes}")
    names = {layer.name for layer in parent_model.layers
             if cells.OP_LAYER_NAME.fullmatch(layer.name)}
    expected = _op_layer_names(parent_arch, filters)
    if names != expected:
        odd = sorted(names ^ expected)[0]
        raise ValueError(f"parent model: layer {odd} is in the model or in parent_arch, not "
                         "both: the model was built from another network or cell order")


def inherit(parent_model, parent_arch, child_arch, filters, num_classes=10,
            input_shape=(32, 32, 3), bn_momentum=network.BN_MOMENTUM):
    """(child model, Inheritance): `network.build_model(child_arch, filters, num_classes,
    input_shape, bn_momentum=bn_momentum)` starting from the weights of `parent_model`, a model
    built by `network.build_model(parent_arch, ...)` (trained, or loaded from a .keras file).

    Layers are matched by structure (`matching.match_block`), found by their Keras names in
    each model. A parent of another width or template is a ValueError naming the rule.
    """
    parent_arch, child_arch = cells.prune(parent_arch), cells.prune(child_arch)
    check_parent(parent_model, parent_arch, child_arch, filters, num_classes, input_shape)
    child_model = network.build_model(child_arch, filters, num_classes, input_shape,
                                    bn_momentum=bn_momentum)
    surgeon = _Surgeon(parent_model, child_model)
    in_map, parent_in = np.arange(filters), filters  # the stem's channels, in order
    for b, (p_block, c_block, stride, width) in enumerate(
            zip(parent_arch.blocks, child_arch.blocks, cells.BLOCK_STRIDES, cells.BLOCK_WIDTHS),
            start=1):
        in_map, parent_in = surgeon.block(b, p_block, c_block, in_map, parent_in, stride,
                                          filters * width)
    surgeon.stem_and_head(in_map, parent_in)
    return child_model, surgeon.report
