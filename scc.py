"""The structure correlation controller, SCC (paper Section 3.3, Figure 2, Eq. 3, Table 3).

Each search round has thousands of grow/trim candidates but trains only the top k, so a
controller must rank the candidates before any of them is trained. The SCC reads a candidate as
the sequence of its cells' tuples ``(I1, I2, L1, L2, O)``, block after block, and scores it
*relative to the candidates scored with it*:

* **input**: every cell is one token, ``vectors.cell_token(cell)`` plus one column that is 0;
  every block is followed by a separator token (all zeros but that last column). A token that is
  all zero is padding; a real cell token never is, since its ``O`` bits are never ``000``.
* **embedding layer**: ``Dense(100)`` on every token;
* **encoding layer**: the E-GRU(100) runs over one candidate's tokens; its last state (the last
  real token, padding masked) is the candidate's feature ``f_i``;
* **ranking layer**: the R-GRU(100) runs over the features ``f_1 .. f_L`` of one *list* of
  candidates, then a fully connected layer gives one score per candidate. The score of candidate
  i depends on the candidates before it in its list: the R-GRU "remembers the features of the
  past candidate networks to estimate the relative performance of the current network".
* **loss** (Eq. 3): the mean squared error between the score and the memory-efficiency metric y
  of ``efficiency.py``, over the real candidates of a list (padded list positions weigh 0); Adam.

Table 3 compares the SCC with two controllers that score every candidate on its own, with no
ranking layer: **Single-RNN** (one GRU(100) over the tokens, then FC) and **Double-RNN** (two
stacked GRU(100)). All three share one ``CandidateEncoder`` and one builder, ``build_model``
(scc_model.py); they differ only in the number of encoder GRUs and in the R-GRU.

The paper scores "all n candidates" as one sequence but gives no n. Here a candidate list has
``list_size`` candidates (default 100, the paper's top-k): ``Controller.fit`` reshuffles the
training candidates into new lists every epoch, so the SCC learns scores that hold whatever the
company, and ``Controller.predict`` cuts the candidates to score into lists in their given
order, a list per model row, many rows per batch, so that a round's thousands of candidates are
scored in one pass.

Table 3 measures controllers by AP@k and NDCG@k (ranking.py). Higher y is better everywhere
in this module.

A second search space, beyond the paper: the same models read NAS-Bench-201 cells
(``nb201.Cell``, ``space="nb201"``), one token per edge (``nb201.tokens``), so that the
controllers can be compared on thousands of fully trained architectures
(``reproduce/table3_controller.py --benchmark=nb201``). ``loss="mse+pairwise"`` adds a pairwise
ranking term to Eq. 3 (``scc_model.ListMSEPairwise``), also beyond the paper.
"""

import json
import math
import os

import keras
import numpy as np

import cells
import guard
import nb201
import scc_model
import vectors

# The search spaces the controllers read: the type of a candidate, and the width of its tokens.
SPACES = {"memnas": cells.Arch, "nb201": nb201.Cell}
DEPTHS = {"memnas": scc_model.TOKEN_DEPTH, "nb201": nb201.TOKEN_WIDTH}

_PAD_ROW, _SEPARATOR_ROW = 0, 1  # fixed rows of the token table built by `encode`


# ---------------------------------------------------------------------------------------------
# Input: candidates as token sequences
# ---------------------------------------------------------------------------------------------

def encode(archs, length=None, space=None):
    """(n, T, DEPTHS[space]) float32 tokens of `archs`, zero-padded at the end to T.

    space "memnas" (cells.Arch candidates, scc_model.TOKEN_DEPTH): a candidate is its cells'
    tokens block after block, each block closed by a separator token. space "nb201"
    (nb201.Cell): its 6 edge tokens (nb201.tokens). Default: the space of the first candidate.
    T is the longest sequence of the batch, or `length` if given (it may not be shorter).
    """
    archs = list(archs)
    if not archs:
        raise ValueError("encode: no candidates to encode")
    if space is None:
        space = "nb201" if isinstance(archs[0], nb201.Cell) else "memnas"
    if space not in SPACES:
        raise ValueError(f"encode: unknown search space {space!r}; known: {', '.join(SPACES)}")
    for n, arch in enumerate(archs):
        if not isinstance(arch, SPACES[space]):
            raise ValueError(f"encode: candidate {n} is a {type(arch).__name__}, not a "
                             f"{SPACES[space].__module__}.{SPACES[space].__name__}")
    if space == "nb201":
        longest = len(nb201.EDGES)
        _check_length(length, longest)
        x = np.zeros((len(archs), length or longest, nb201.TOKEN_WIDTH), np.float32)
        x[:, :longest] = [nb201.tokens(cell) for cell in archs]
        return x
    # The candidates of a round share most of their cells, so each distinct cell is tokenized
    # once and a sequence is a list of rows of a small token table. Candidates also share block
    # objects (grow_trim keeps a base's untouched blocks), so a block's rows are looked up by
    # identity: `archs` keeps every block alive during the call, so no id is reused.
    rows = {}  # cell -> its row in the table
    block_rows = {}  # id(block) -> the rows of its cells and of the separator
    longest = max(sum(len(block) + 1 for block in arch.blocks) for arch in archs)
    _check_length(length, longest)
    length = length or longest
    index = np.full((len(archs), length), _PAD_ROW, np.int32)  # (n, T) rows of the table
    for n, arch in enumerate(archs):
        sequence = []
        for block in arch.blocks:
            known = block_rows.get(id(block))
            if known is None:
                known = [rows.setdefault(cell, len(rows) + 2) for cell in block]
                known.append(_SEPARATOR_ROW)
                block_rows[id(block)] = known
            sequence += known
        index[n, :len(sequence)] = sequence
    table = np.zeros((len(rows) + 2, scc_model.TOKEN_DEPTH), np.float32)
    table[_SEPARATOR_ROW, -1] = 1
    for cell, row in rows.items():
        table[row, :-1] = vectors.cell_token(cell)
    return table[index]  # (n, T, D)


def _check_length(length, longest):
    if length is not None and length < longest:
        raise ValueError(f"encode: length {length} is shorter than the longest candidate "
                         f"({longest} tokens)")


# ---------------------------------------------------------------------------------------------
# The controller the search uses: lists in, scores out
# ---------------------------------------------------------------------------------------------

class _Lists(keras.utils.PyDataset):
    """Training batches: each epoch the candidates are shuffled into new lists of `list_size`.

    Yields (tokens (B, L, T, D), y (B, L), weights (B, L)); the last list is padded with
    all-zero candidates of weight 0, and the last batch with all-zero lists, so that every
    batch of every fit has one shape (B = batch_size) as long as T stays: a controller
    retrained each round traces its training step once (Controller.reinitialize). Padding
    has weight 0, which the loss's weighted mean leaves out.
    """

    def __init__(self, tokens, y, list_size, batch_size, rng):
        super().__init__()
        self.tokens, self.y, self.rng = tokens, y, rng
        self.list_size, self.batch_size = list_size, batch_size
        self.num_lists = math.ceil(len(y) / list_size)
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(self.num_lists / self.batch_size)

    def on_epoch_end(self):
        order = self.rng.permutation(len(self.y))
        # -1 marks a padded list position.
        self.index = np.full(self.num_lists * self.list_size, -1, np.int64)
        self.index[:len(order)] = order
        self.index = self.index.reshape(self.num_lists, self.list_size)  # (lists, L)

    def __getitem__(self, batch):
        index = np.full((self.batch_size, self.list_size), -1, np.int64)  # (B, L)
        lists = self.index[batch * self.batch_size:(batch + 1) * self.batch_size]
        index[:len(lists)] = lists
        real = index >= 0
        tokens = np.where(real[..., None, None], self.tokens[index], 0)  # (B, L, T, D)
        y = np.where(real, self.y[index], 0).astype(np.float32)  # (B, L)
        return tokens, y, real.astype(np.float32)


class Controller:
    """A controller of `kind` that ranks candidates of a search space (`space`: cells.Arch
    for "memnas", nb201.Cell for "nb201") by their predicted y, trained with `loss`
    (scc_model.LOSSES).

    The model learns y standardized by the mean and standard deviation of the data of the last
    `fit`, and `predict` returns scores in the units of y: the metric of Eq. 4 spans a few
    hundredths, which would leave the initial gradients of the MSE tiny. Eq. 3 on standardized
    y has the same minimizer, and the ranking, all the search uses, is unchanged.

    jit_compile=True (XLA) scores faster on CPU once compiled (bench/scc_scoring.py measures
    it), but compiles again for every new input shape, which costs more than it saves in a
    round's first call, so the default stays "auto" (no XLA on CPU, none with the cuDNN GRU on
    a GPU either). run_eagerly trains and scores without tracing: faster when a fit is a few
    steps on a few lists (tests, smoke runs), the same numbers up to float rounding; a setting
    of this process, not of the controller, so not saved.
    """

    def __init__(self, kind="scc", units=100, list_size=100, learning_rate=1e-3, seed=0,
                 jit_compile="auto", space="memnas", loss="mse", run_eagerly=False):
        if list_size < 1:
            raise ValueError(f"Controller: list_size must be at least 1, got {list_size}")
        if space not in SPACES:
            raise ValueError(f"Controller: unknown search space {space!r}; "
                             f"known: {', '.join(SPACES)}")
        self.kind, self.units, self.list_size = kind, units, list_size
        self.learning_rate, self.seed, self.jit_compile = learning_rate, seed, jit_compile
        self.space, self.loss = space, loss
        self.y_mean, self.y_std = 0.0, 1.0
        self.fits = 0  # completed fit() calls; each reshuffles with its own seed
        # Seeds Python, NumPy and the backend globally: the only way Keras offers to make
        # weight initialization (and so the whole controller) repeatable.
        keras.utils.set_random_seed(seed)
        self.model = scc_model.build_model(kind, units, learning_rate, jit_compile,
                                           DEPTHS[space], loss)
        self.model.run_eagerly = run_eagerly

    def reinitialize(self, seed):
        """Back to the state of a new Controller of the same settings and `seed` (weights,
        optimizer state, fits), keeping the model and so its traced training and scoring
        functions: tracing them costs more than training on a round's few hundred candidates.
        """
        keras.utils.set_random_seed(seed)
        fresh = scc_model.build_model(self.kind, self.units, self.learning_rate,
                                      self.jit_compile, DEPTHS[self.space], self.loss)
        self.model.set_weights(fresh.get_weights())
        optimizer = self.model.optimizer
        if optimizer.built:  # a new optimizer is built on its first step with zero state
            fresh.optimizer.build(fresh.trainable_variables)
            for variable, initial in zip(optimizer.variables, fresh.optimizer.variables):
                variable.assign(initial)
        self.seed, self.fits = seed, 0
        self.y_mean, self.y_std = 0.0, 1.0

    @property
    def trained(self):
        """False until fit() has run once; the search ranks by memory alone before that."""
        return self.fits > 0

    def fit(self, archs, y, epochs=50, batch_size=8, verbose=0):
        """Train on `archs` and their measured y (Eq. 3); returns the Keras History.

        Each epoch reshuffles the candidates into lists of `list_size`; `batch_size` counts
        lists. Training continues from the current weights, so a search refits every round on
        everything trained so far.
        """
        archs, y = list(archs), np.asarray(y, np.float64)
        if not archs:
            raise ValueError("Controller.fit: no candidates to train on")
        if y.shape != (len(archs),):
            raise ValueError(f"Controller.fit: {len(archs)} candidates but y has shape "
                             f"{y.shape}; expected one float per candidate")
        if not np.all(np.isfinite(y)):
            raise ValueError("Controller.fit: y has a NaN or infinite value")
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"Controller.fit: epochs ({epochs}) and batch_size ({batch_size}) "
                             "must be at least 1")
        self.y_mean = float(y.mean())
        self.y_std = float(y.std()) or 1.0  # all y equal: nothing to scale
        rng = np.random.default_rng([self.seed, self.fits])
        lists = _Lists(encode(archs, space=self.space), (y - self.y_mean) / self.y_std,
                       self.list_size, batch_size, rng)
        # shuffle=False: the lists are already random, and Keras would reorder the batches with
        # Python's global `random`, whose state depends on everything that ran before.
        history = self.model.fit(lists, epochs=epochs, shuffle=False, verbose=verbose)
        self.fits += 1
        return history

    def predict(self, archs, batch_size=16):
        """Predicted y of every candidate, (n,) in the order of `archs`.

        The candidates are cut, in order, into lists of `list_size` (the last one padded);
        `batch_size` lists go through the model at a time, each batch padded only to its own
        longest candidate. An SCC score depends on the candidates before it in its list, so on
        this order too; Single- and Double-RNN scores do not.
        """
        archs = list(archs)
        if not archs:
            raise ValueError("Controller.predict: no candidates to score")
        if batch_size < 1:
            raise ValueError(f"Controller.predict: batch_size must be at least 1, "
                             f"got {batch_size}")
        per_batch = self.list_size * batch_size
        scores = []
        for start in range(0, len(archs), per_batch):
            chunk = archs[start:start + per_batch]
            tokens = encode(chunk, space=self.space)  # (n, T, D)
            lists = math.ceil(len(chunk) / self.list_size)
            padded = np.zeros((lists * self.list_size,) + tokens.shape[1:], np.float32)
            padded[:len(chunk)] = tokens
            out = self.model.predict_on_batch(
                padded.reshape(lists, self.list_size, *tokens.shape[1:]))  # (B, L)
            scores.append(np.asarray(out).reshape(-1)[:len(chunk)])
        return np.concatenate(scores) * self.y_std + self.y_mean

    def save(self, path):
        """Write the model to `path` (.keras) and the controller's settings to `path`.json."""
        path = os.fspath(path)
        if not path.endswith(".keras"):
            raise ValueError(f"Controller.save: {path!r} must end with .keras")
        # Write then rename, so that a search killed mid-save leaves the previous files.
        guard.replace_atomically(path, self.model.save)
        settings = {"kind": self.kind, "units": self.units, "list_size": self.list_size,
                    "learning_rate": self.learning_rate, "seed": self.seed,
                    "jit_compile": self.jit_compile, "space": self.space, "loss": self.loss,
                    "y_mean": self.y_mean,
                    "y_std": self.y_std, "fits": self.fits}
        def dump(tmp):
            with open(tmp, "w") as f:
                json.dump(settings, f, indent=1)
        guard.replace_atomically(f"{path}.json", dump)

    @classmethod
    def load(cls, path):
        """A Controller saved by `save`: same settings, weights and optimizer state."""
        path = os.fspath(path)
        try:
            with open(f"{path}.json") as f:
                settings = json.load(f)
        except FileNotFoundError:
            raise ValueError(f"Controller.load: no settings file {path}.json next to the "
                             "model") from None
        # Settings saved before the NAS-Bench-201 space and the losses existed: memnas, mse.
        controller = cls(settings["kind"], settings["units"], settings["list_size"],
                         settings["learning_rate"], settings["seed"], settings["jit_compile"],
                         settings.get("space", "memnas"), settings.get("loss", "mse"))
        # The freshly built model is replaced by the saved one: same graph, trained weights.
        controller.model = keras.saving.load_model(path)
        controller.y_mean, controller.y_std = settings["y_mean"], settings["y_std"]
        controller.fits = settings["fits"]
        return controller
