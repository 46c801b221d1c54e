"""Which layers of a grown or trimmed child stand for which layers of its base: the structural
matching weight inheritance (inherit.py) copies weights along. Keras layer names
(`b2_c3_l1_conv3x3`) are positions, not identities (canonical form may reorder cells), so a
child block is matched to its parent block by structure (`match_block`).

Plain Python: no TensorFlow.
"""

import dataclasses


@dataclasses.dataclass
class BlockMatch:
    """The pairing of a child block with its parent block.

    `locations`: child location -> (parent location, exact); location 0, the block input,
    always pairs with 0. Exact: the same computation on the same inputs, so the same function
    once the weights are copied. Not exact: the parent cell this child cell replaced (a trim),
    kept so that the channels reading it can keep their slices. Unpaired child cells are new.
    `layers`: child (cell, layer) -> parent (cell, layer), 1-based as in the Keras names.
    """
    locations: dict
    layers: dict


def _key(cell, where):
    """The structure of `cell` in terms of the parent: its combine and its layers as sorted
    (op, parent location) pairs, or None if it reads a location with no exact parent.

    Computed bottom-up from the block input, this is the recursive signature of the sub-graph
    feeding the cell, with each tie between isomorphic parent cells already resolved. The output
    flag is left out (dropping a cell from the block output keeps its layers), and so is the
    combine of a one-layer cell, which passes its layer through either way.
    """
    layers = []
    for loc, op in cell.layers:
        if loc not in where or not where[loc][1]:
            return None
        layers.append((op, where[loc][0]))
    return (cell.combine if len(layers) == 2 else None), tuple(sorted(layers))


def _depths(block):
    """Depth of each location: 0 for the block input, 1 + the deepest input for a cell."""
    depth = [0]
    for cell in block:
        depth.append(1 + max(depth[loc] for loc, _ in cell.layers))
    return depth


def _shared_layers(child_cell, parent_cell, locations):
    """How many layers `child_cell` shares with `parent_cell`: same op on paired inputs."""
    left = [(op, loc) for loc, op in parent_cell.layers]
    shared = 0
    for loc, op in child_cell.layers:
        if loc in locations and (op, locations[loc][0]) in left:
            left.remove((op, locations[loc][0]))
            shared += 1
    return shared


def match_block(parent_block, child_block):
    """Pair the cells and operation layers of `child_block` with those of `parent_block`.

    1. Exact cells, level by level from the block input: a child cell pairs with an unpaired
       parent cell of the same `_key`. Within a level, parent cells of the same output role go
       first, so that a grown cell identical to an existing one never takes the place of the
       existing cell that stays outside the block output.
    2. Replaced cells (trims), in order: a child cell still unpaired pairs with the unpaired
       parent cell sharing most layers, at least one.
    3. Layers: within paired cells, same op on paired inputs; then any child layer left, across
       the block, with a parent layer left of the same op reading an exactly paired input. Ties
       go in order, so each parent layer has at most one heir.
    """
    parent_keys = {p: _key(cell, {loc: (loc, True) for loc in range(p)})
                   for p, cell in enumerate(parent_block, start=1)}
    locations = {0: (0, True)}
    depth = _depths(child_block)
    for level in sorted(set(depth[1:])):
        for same_role in (True, False):
            for j, cell in enumerate(child_block, start=1):
                if depth[j] != level or j in locations or _key(cell, locations) is None:
                    continue
                taken = {p for p, _ in locations.values()}
                free = [p for p, key in parent_keys.items() if p not in taken
                        and key == _key(cell, locations)
                        and (not same_role or parent_block[p - 1].output == cell.output)]
                if free:
                    locations[j] = (free[0], True)
    for j, cell in enumerate(child_block, start=1):
        if j in locations:
            continue
        taken = {p for p, _ in locations.values()}
        best = max(((_shared_layers(cell, parent_block[p - 1], locations), -p)
                    for p in range(1, len(parent_block) + 1) if p not in taken),
                   default=(0, 0))
        if best[0] > 0:
            locations[j] = (-best[1], False)

    layers = {}
    for j, cell in enumerate(child_block, start=1):
        if j in locations:
            _pair_layers(cell, j, [locations[j][0]], parent_block, locations, layers)
    exact = {loc: where for loc, where in locations.items() if where[1]}
    for j, cell in enumerate(child_block, start=1):
        _pair_layers(cell, j, range(1, len(parent_block) + 1), parent_block, exact, layers)
    return BlockMatch(locations, layers)


def _pair_layers(cell, j, parent_cells, parent_block, locations, layers):
    """Pair each unpaired layer of child cell `j` with the first free parent layer of
    `parent_cells` that has its op and reads the parent location its input is paired with."""
    taken = set(layers.values())
    for i, (loc, op) in enumerate(cell.layers, start=1):
        if (j, i) in layers or loc not in locations:
            continue
        for p in parent_cells:
            free = [(p, k) for k, (ploc, pop) in enumerate(parent_block[p - 1].layers, start=1)
                    if (p, k) not in taken and (pop, ploc) == (op, locations[loc][0])]
            if free:
                layers[(j, i)] = free[0]
                taken.add(free[0])
                break
