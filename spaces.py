"""The search spaces search.py runs over, behind one seam: what the loop needs of a space.

* ``memnas``: the paper's space (cells.py): networks of five blocks of cells, grown and trimmed
  by Eq. 1 and 2 (grow_trim.py), measured at the search's width and input (lifetime.py).
* ``nb201``: NAS-Bench-201's cells (nb201.py), grown and trimmed edge by edge, measured on the
  benchmark's own network (its width and CIFAR input are fixed); their accuracies are the
  benchmark's table (evaluation.TableEvaluator), so a whole search runs in seconds.

A space gives a round's candidates (``generate``), a network's key (``key``), its exact memory
p and r (``memory``) and its JSON form (``to_json``; ``from_json`` reads either space's, which
records.py and readers.py use without knowing the space). The controller reads either space
(scc.encode). Plain Python: no TensorFlow.
"""

import json

import arch_json
import cells
import grow_trim
import guard
import lifetime
import nb201
import nb201_graph
from efficiency import Stats


class MemNAS:
    """The paper's space (Section 3.1)."""
    name = "memnas"

    @staticmethod
    def generate(round_index, base, start_from=None):
        """The round's distinct candidates, canonical (grow_trim.Generation). Round 0 has no
        base: the one-cell networks, or only `start_from` when the search starts from a given
        network (its accuracy is unknown until it is trained)."""
        if round_index == 0 and start_from is not None:
            return grow_trim.Generation((cells.canonical(start_from),), (), 1, 0)
        return grow_trim.generate(None if round_index == 0 else base)

    @staticmethod
    def key(arch):
        return arch_json.key(arch)

    @staticmethod
    def memory(arch, filters, config, data):
        """Stats(None, p, r) of `arch` at width `filters` on `data`'s input and classes."""
        found = lifetime.arch_memory(arch, filters, config.bytes_per_value, config.schedule,
                                     data.input_shape, data.num_classes)
        return Stats(None, found.param_bytes, found.activation_bytes)

    @staticmethod
    def to_json(arch):
        return arch_json.to_json(arch)

    @staticmethod
    def save(arch, path):
        arch_json.save(arch, path)


class NB201:
    """NAS-Bench-201's cells on the benchmark's network; `filters` does not apply (its widths
    are 16, 32, 64)."""
    name = "nb201"

    @staticmethod
    def generate(round_index, base, start_from=None):
        """As MemNAS.generate, with nb201.generate's grow, trim and round 0."""
        if round_index == 0 and start_from is not None:
            return grow_trim.Generation((start_from,), (), 1, 0)
        return nb201.generate(None if round_index == 0 else base)

    @staticmethod
    def key(arch):
        return nb201.to_string(arch)

    @staticmethod
    def memory(arch, filters, config, data):
        """Stats(None, p, r) of the benchmark's whole network as lifetime.py measures ours: p
        its parameters as deployed (BatchNorm folded, the converter's own constants) at
        `config.bytes_per_value`, whatever the schedule; r the peak of nb201_graph.network_parts
        under `config.schedule` (the tensors TensorFlow Lite holds for the deployed schedules,
        as lifetime.arch_memory does). reproduce/data/nb201_memory.csv has both."""
        del filters  # the benchmark's network has its own widths
        deployed = nb201_graph.network_parts(arch, data.num_classes, data.input_shape,
                                             primitives=True)
        parts = deployed if config.schedule in lifetime.DEPLOYED else \
            nb201_graph.network_parts(arch, data.num_classes, data.input_shape)
        found = lifetime.parts_memory(parts, config.bytes_per_value, config.schedule)
        return Stats(None, nb201_graph.deployed_params(deployed) * config.bytes_per_value,
                     found.activation_bytes)

    @staticmethod
    def to_json(arch):
        return nb201.to_string(arch)

    @staticmethod
    def save(arch, path):
        """The benchmark's string as a JSON string, replaced atomically."""
        text = json.dumps(nb201.to_string(arch)) + "\n"

        def write(tmp):
            with open(tmp, "w") as f:
                f.write(text)
        guard.replace_atomically(path, write)


SPACES = {space.name: space for space in (MemNAS, NB201)}


def of(name):
    """The space named `name` (SearchConfig.space)."""
    if name not in SPACES:
        raise ValueError(f"--space must be one of {', '.join(SPACES)}, got {name!r}")
    return SPACES[name]


def _space_of(arch):
    return NB201 if isinstance(arch, nb201.Cell) else MemNAS


def to_json(arch):
    """The JSON form of an architecture of either space."""
    return _space_of(arch).to_json(arch)


def save(arch, path):
    """An architecture file of either space: arch_json.save's, or a JSON string."""
    _space_of(arch).save(arch, path)


def from_json(data):
    """The architecture of `to_json`'s form: a NAS-Bench-201 string, or a cells.py object."""
    return nb201.parse(data) if isinstance(data, str) else arch_json.from_json(data)
