"""The controllers' Keras models (paper Section 3.3, Figure 2, Eq. 3, Table 3): one
``CandidateEncoder``, three heads, and Eq. 3's loss.

A model maps tokens (B, L, T, D) (B lists of L candidates of T tokens of width D, scc.encode)
to scores (B, L). The SCC is the encoder (embedding + E-GRU) followed by the R-GRU over the
candidates of a list and a fully connected layer; Single-RNN and Double-RNN (Table 3) are the
encoder with one or two GRUs and the fully connected layer, with no ranking layer. scc.py's
``Controller`` trains and uses them.
"""

import keras
from keras import ops

import vectors

# A token is a cell token plus one column that only the block separator sets.
TOKEN_DEPTH = vectors.TOKEN_WIDTH + 1
KINDS = ("scc", "single", "double")
LOSSES = ("mse", "mse+pairwise")


@keras.saving.register_keras_serializable(package="memnas")
class CandidateEncoder(keras.layers.Layer):
    """Embedding + `num_layers` stacked GRUs over each candidate's tokens: (B, L, T, D) ->
    (B, L, units), the feature f_i of every candidate of every list.

    The candidates of all lists are folded into one batch of B*L sequences, so the GRU runs once
    per batch however many candidates a list holds.
    """

    def __init__(self, units, num_layers=1, **kwargs):
        super().__init__(**kwargs)
        if units < 1 or num_layers < 1:
            raise ValueError(f"CandidateEncoder: units ({units}) and num_layers ({num_layers}) "
                             "must be at least 1")
        self.units = units
        self.num_layers = num_layers
        self.embedding = keras.layers.Dense(units, name="embedding")
        # Every GRU but the last passes its whole sequence on; the last keeps its final state.
        self.grus = [keras.layers.GRU(units, return_sequences=k < num_layers - 1,
                                      name=f"e_gru_{k + 1}") for k in range(num_layers)]

    def build(self, input_shape):
        tokens = (None, input_shape[2], input_shape[3])  # (B*L, T, D)
        self.embedding.build(tokens)
        for gru in self.grus:
            gru.build((None, input_shape[2], self.units))

    def call(self, inputs):
        shape = ops.shape(inputs)
        tokens = ops.reshape(inputs, (-1, shape[2], shape[3]))  # (B*L, T, D)
        # Position 0 always counts: a padded candidate would otherwise be a fully masked
        # sequence, which the cuDNN GRU rejects. Its feature is then ignored downstream.
        first = ops.equal(ops.arange(shape[2]), 0)  # (T,)
        mask = ops.logical_or(ops.any(ops.not_equal(tokens, 0), axis=-1), first)  # (B*L, T)
        x = self.embedding(tokens)  # (B*L, T, units)
        for gru in self.grus:
            x = gru(x, mask=mask)
        return ops.reshape(x, (shape[0], shape[1], self.units))  # (B, L, units)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers}


@keras.saving.register_keras_serializable(package="memnas")
class ListMSE(keras.losses.Loss):
    """Eq. 3 over lists of candidates:

        Loss_mem = 1/n * sum_i (y_i - y_i^p)^2

    y_i the memory-efficiency metric of candidate i (or, with search.py's default controller
    target, its accuracy), y_i^p the score predicted for it, n the real candidates: each list
    position's squared error is averaged with the sample weights (1 for a real candidate, 0 for
    padding), so padding never counts in the mean."""

    def __init__(self, name="list_mse", reduction="mean_with_sample_weight", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        return ops.square(y_pred - y_true)  # (B, L): no mean over the list yet


@keras.saving.register_keras_serializable(package="memnas")
class ListMSEPairwise(ListMSE):
    """Eq. 3 plus a pairwise ranking term (RankNet's logistic loss), beyond the paper:

        ListMSE + mean over pairs (i, j) of one list with y_i > y_j of log(1 + exp(s_j - s_i))

    s the predicted scores; pairs with a padded candidate (sample weight 0) do not count. The
    MSE keeps the scores in the units of y, the pairwise term rewards the order within a list
    only, which is what the SCC's list context could help with."""

    def __init__(self, name="list_mse_pairwise", **kwargs):
        super().__init__(name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        mse = super().__call__(y_true, y_pred, sample_weight)
        y_true = ops.convert_to_tensor(y_true, self.dtype)  # (B, L)
        y_pred = ops.convert_to_tensor(y_pred, self.dtype)
        real = (ops.ones_like(y_true) if sample_weight is None else
                ops.cast(ops.convert_to_tensor(sample_weight) > 0, self.dtype))
        # [b, i, j]: candidate i is truly better than candidate j, both real.
        ordered = ops.cast(y_true[:, :, None] > y_true[:, None, :], self.dtype)
        ordered = ordered * real[:, :, None] * real[:, None, :]
        pairs = ops.softplus(y_pred[:, None, :] - y_pred[:, :, None])  # log(1 + e^(s_j - s_i))
        return mse + ops.sum(pairs * ordered) / ops.maximum(ops.sum(ordered), 1.0)


def build_model(kind, units=100, learning_rate=1e-3, jit_compile="auto", depth=TOKEN_DEPTH,
                loss="mse"):
    """A compiled controller of Table 3: (B, L, T, depth) tokens -> (B, L) scores.

    kind: "scc" (encoder + R-GRU + FC), "single" (one GRU + FC) or "double" (two GRUs + FC).
    L (candidates per list) and T (tokens per candidate) may change from call to call. depth:
    the token width of the search space (scc.DEPTHS). loss: "mse" (Eq. 3, ListMSE) or
    "mse+pairwise" (ListMSEPairwise).
    """
    if kind not in KINDS:
        raise ValueError(f"build_model: unknown controller kind {kind!r}; "
                         f"known: {', '.join(KINDS)}")
    if loss not in LOSSES:
        raise ValueError(f"build_model: unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    tokens = keras.Input(shape=(None, None, depth), name="tokens")  # (B, L, T, D)
    features = CandidateEncoder(units, 2 if kind == "double" else 1,
                                name="encoder")(tokens)  # (B, L, units)
    if kind == "scc":
        # The ranking layer reads the real candidates of a list only: a padded one must not
        # change the memory the R-GRU carries to the candidates after it.
        real = ops.any(ops.not_equal(tokens, 0), axis=(2, 3))  # (B, L)
        features = keras.layers.GRU(units, return_sequences=True,
                                    name="r_gru")(features, mask=real)  # (B, L, units)
    scores = ops.squeeze(keras.layers.Dense(1, name="score")(features), axis=-1)  # (B, L)
    model = keras.Model(tokens, scores, name=kind)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=ListMSE() if loss == "mse" else ListMSEPairwise(),
                  jit_compile=jit_compile)
    return model
