"""What a search depends on besides the data and the training recipe: its settings and hard
memory budgets (and the byte counts the command line gives them), one ValueError per bad
setting, naming its flag. Plain Python (no TensorFlow): records.py stores it in config.json,
readers.py reads it back.
"""

import dataclasses
import decimal
import re

import spaces

STRATEGIES = ("memnas", "memory", "random")
CONTROLLER_TARGETS = ("accuracy", "y")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything a search depends on besides the data and the training recipe.

    strategy: how a round picks the k candidates to train: "memnas" (the paper: the SCC's
    ranking, or the memory terms of Eq. 4 before it has data), "memory" (the memory terms of
    Eq. 4 only, no controller) or "random" (k drawn uniformly, seeded).
    controller_target: what the SCC learns: "accuracy" (candidates are ranked by Eq. 4 of the
    predicted accuracy and their exact memory) or "y" (the paper's Eq. 3).
    inherit: candidates start from their base's trained weights (inherit.py) and train for the
    recipe's epochs as fine-tuning; round 0 trains from scratch.
    final_epochs: the final network is trained from scratch for this many epochs on training +
    validation data and tested on the test split; 0: not.
    round0_k: candidates trained in round 0 (None: k). Round 0 has no base and is ranked by
    the memory terms alone, so a search with a small k starts from the smallest networks;
    28 trains all of round 0, as the paper's k = 100 does.
    patience: rounds in a row that may improve nothing before the search stops; the paper stops
    at the first (0). A round after one that improved nothing keeps its base and picks among
    the candidates not evaluated since that base was chosen, so it spends its k on new networks.
    max_param_bytes, max_activation_bytes: hard budgets on p and r, in bytes as the search
    measures them (bytes_per_value, schedule); a candidate over either is never ranked nor
    trained. None: no budget.
    space: the search space (spaces.py): "memnas" (the paper's) or "nb201" (NAS-Bench-201's
    cells, looked up in its table: no inherit, final_epochs 0).
    """
    lambda_: float = 0.5
    rounds: int = 10
    k: int = 100
    bytes_per_value: int = 4
    schedule: str = "paper"
    strategy: str = "memnas"
    controller_epochs: int = 100
    list_size: int = 100
    controller_target: str = "accuracy"
    seed: int = 0
    inherit: bool = False
    final_epochs: int = 60
    round0_k: int | None = None
    patience: int = 0
    max_param_bytes: int | None = None
    max_activation_bytes: int | None = None
    space: str = "memnas"

    def k_of(self, round_index):
        """Candidates trained in round `round_index`."""
        return self.k if round_index > 0 or self.round0_k is None else self.round0_k

    def budgets(self):
        """{stat name: budget in bytes} of the budgets set: param_bytes, activation_bytes."""
        return {name: budget for name, budget in (("param_bytes", self.max_param_bytes),
                                                  ("activation_bytes", self.max_activation_bytes))
                if budget is not None}

    def fits(self, stats):
        """Whether a network's memory (Stats, or anything with param_bytes and
        activation_bytes) is within every budget set."""
        return all(getattr(stats, name) <= budget for name, budget in self.budgets().items())

    def __post_init__(self):
        """One ValueError per bad setting, naming its flag."""
        if not 0.0 <= self.lambda_ <= 1.0:
            raise ValueError(f"--lambda_ must be in [0, 1], got {self.lambda_}")
        for name, flag in (("rounds", "rounds"), ("k", "k"), ("bytes_per_value", "bytes"),
                           ("controller_epochs", "controller_epochs"),
                           ("list_size", "list_size")):
            if getattr(self, name) < 1:
                raise ValueError(f"--{flag} must be at least 1, got {getattr(self, name)}")
        for name in ("round0_k", "max_param_bytes", "max_activation_bytes"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        for name in ("seed", "final_epochs", "patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be at least 0, got {getattr(self, name)}")
        for name, choices in (("strategy", STRATEGIES),
                              ("controller_target", CONTROLLER_TARGETS),
                              ("space", tuple(spaces.SPACES))):
            if getattr(self, name) not in choices:
                raise ValueError(f"--{name} must be one of {', '.join(choices)}, "
                                 f"got {getattr(self, name)!r}")
        if self.space != "memnas" and (self.inherit or self.final_epochs):
            raise ValueError(f"--space={self.space}: its networks are looked up, not trained: "
                             "no --inherit, and --final_epochs must be 0")


BYTES_HELP = ("an integer, or with a suffix k (10^3), M (10^6), Ki (2^10) or Mi (2^20): "
              "500k, 2Mi")
_UNITS = {"": 1, "k": 10 ** 3, "M": 10 ** 6, "Ki": 2 ** 10, "Mi": 2 ** 20}


def parse_bytes(text):
    """A number of bytes from the command line: "250000", "250k", "1.5M", "64Ki", "2Mi" (k and
    M are powers of 10, Ki and Mi of 2); None stays None. ValueError unless a whole number of
    bytes."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(k|M|Ki|Mi)?\s*", text)
    value = None if match is None else decimal.Decimal(match[1]) * _UNITS[match[2] or ""]
    if value is None or value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes: {BYTES_HELP}")
    return int(value)
