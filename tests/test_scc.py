"""scc.py: ranking metrics by hand, token layout, the three controllers of Table 3, learning,
save/load and the list padding of `Controller.predict`."""
import collections
import math
import random

import numpy as np
import pytest

import cells
import grow_trim
import ranking
import scc
import scc_model
import vectors

# y_true of five candidates a..e: the true order is a, b, c, d, e.
Y_TRUE = [5.0, 4.0, 3.0, 2.0, 1.0]
LOG2_3 = math.log2(3)


# ---------------------------------------------------------------------------------------------
# Metrics, against values computed by hand
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_perfect_prediction_scores_one(k):
    assert ranking.ap_at_k(Y_TRUE, Y_TRUE, k) == 1.0
    assert ranking.ndcg_at_k(Y_TRUE, Y_TRUE, k) == pytest.approx(1.0)


def test_reversed_prediction_by_hand():
    y_pred = Y_TRUE[::-1]  # predicted order e, d, c, b, a
    # k = 2: true top-2 {a, b}; predicted e, d: no hit.
    assert ranking.ap_at_k(Y_TRUE, y_pred, 2) == 0.0
    assert ranking.ndcg_at_k(Y_TRUE, y_pred, 2) == 0.0
    # k = 3: true top-3 {a, b, c}; predicted e, d, c: only position 3 hits, precision@3 = 1/3.
    # AP = (1/3) * (1/3). Relevance a=3, b=2, c=1: DCG = 1/log2(4); IDCG = 3 + 2/log2(3) + 1/2.
    assert ranking.ap_at_k(Y_TRUE, y_pred, 3) == pytest.approx(1 / 9)
    assert ranking.ndcg_at_k(Y_TRUE, y_pred, 3) == pytest.approx(0.5 / (3 + 2 / LOG2_3 + 0.5))


def test_swapped_top_two_by_hand():
    y_pred = [4.0, 5.0, 1.0, 3.0, 2.0]  # predicted order b, a, d, e, c
    # k = 2: b and a both in {a, b}: precision 1 at both positions, AP = 1.
    # Relevance a=2, b=1: DCG = 1/1 + 2/log2(3); IDCG = 2/1 + 1/log2(3).
    assert ranking.ap_at_k(Y_TRUE, y_pred, 2) == 1.0
    assert ranking.ndcg_at_k(Y_TRUE, y_pred, 2) == pytest.approx(
        (1 + 2 / LOG2_3) / (2 + 1 / LOG2_3))
    # k = 3: b, a hit {a, b, c}, d does not: AP = (1 + 1 + 0) / 3.
    # Relevance a=3, b=2, c=1: DCG = 2/1 + 3/log2(3) + 0; IDCG = 3 + 2/log2(3) + 1/2.
    assert ranking.ap_at_k(Y_TRUE, y_pred, 3) == pytest.approx(2 / 3)
    assert ranking.ndcg_at_k(Y_TRUE, y_pred, 3) == pytest.approx(
        (2 + 3 / LOG2_3) / (3 + 2 / LOG2_3 + 0.5))


def test_late_hits_by_hand():
    y_pred = [4.0, 3.0, 2.0, 5.0, 1.0]  # predicted order d, a, b, c, e
    # k = 3: d misses, a hits (precision@2 = 1/2), b hits (precision@3 = 2/3).
    # AP = (1/2 + 2/3) / 3 = 7/18. DCG = 0 + 3/log2(3) + 2/log2(4).
    assert ranking.ap_at_k(Y_TRUE, y_pred, 3) == pytest.approx(7 / 18)
    assert ranking.ndcg_at_k(Y_TRUE, y_pred, 3) == pytest.approx(
        (3 / LOG2_3 + 1) / (3 + 2 / LOG2_3 + 0.5))


def test_k_above_n_is_n_and_report_keys():
    y_pred = [4.0, 5.0, 1.0, 3.0, 2.0]
    assert ranking.ap_at_k(Y_TRUE, y_pred, 50) == ranking.ap_at_k(Y_TRUE, y_pred, 5)
    report = ranking.ranking_report(Y_TRUE, y_pred)
    assert set(report) == {"AP@50", "NDCG@50", "AP@100", "NDCG@100", "kendall_tau",
                           "spearman_rho"}
    # Of the 10 pairs, (a, b), (c, d) and (c, e) are swapped: (7 - 3) / 10.
    assert report["kendall_tau"] == pytest.approx((7 - 3) / 10)
    assert ranking.spearman_rho(Y_TRUE, Y_TRUE) == pytest.approx(1.0)


def test_metric_errors():
    with pytest.raises(ValueError, match="y_true has 5 values, y_pred 4"):
        ranking.ap_at_k(Y_TRUE, Y_TRUE[:4], 2)
    with pytest.raises(ValueError, match="no candidates"):
        ranking.ndcg_at_k([], [], 2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        ranking.ap_at_k(Y_TRUE, Y_TRUE, 0)


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------

def test_encode_layout_figure_1b_and_round_0():
    round0 = cells.one_cell("conv3x3", "conv3x3")
    x = scc.encode([cells.FIGURE_1B, round0])
    # Figure 1b: 5 blocks of 3 cells + 1 separator = 20 tokens; round 0: 5 x (1 + 1) = 10.
    assert x.shape == (2, 20, vectors.TOKEN_WIDTH + 1) and x.dtype == np.float32
    separator = np.zeros(vectors.TOKEN_WIDTH + 1)
    separator[-1] = 1
    for t in range(20):
        if t % 4 == 3:
            np.testing.assert_array_equal(x[0, t], separator)
        else:
            np.testing.assert_array_equal(x[0, t, :-1],
                                          vectors.cell_token(cells.FIGURE_1B.blocks[0][t % 4]))
            assert x[0, t, -1] == 0
    # C1 = (0001, 0001, 0000010, 0001000, 001): I1 bit 0, I2 bit 0 (offset 16), L1 dwconv3x3
    # (offset 32 + 1), L2 conv1x7_7x1 (offset 39 + 3), O "not output" (offset 46 + 2).
    assert np.flatnonzero(x[0, 0]).tolist() == [0, 16, 33, 42, 48]
    # The round-0 network: conv3x3 + conv3x3 on the block input, O = 100; separators at odd t.
    assert np.flatnonzero(x[1, 0]).tolist() == [0, 16, 32, 39, 46]
    for t in range(1, 10, 2):
        np.testing.assert_array_equal(x[1, t], separator)
        np.testing.assert_array_equal(x[1, t - 1], x[1, 0])
    assert not x[1, 10:].any()  # padding at the end only


def test_encode_length_and_errors():
    assert scc.encode(cells.ROUND0[:3], length=16).shape == (3, 16, vectors.TOKEN_WIDTH + 1)
    with pytest.raises(ValueError, match="shorter than the longest"):
        scc.encode([cells.FIGURE_1B], length=19)
    with pytest.raises(ValueError, match="no candidates"):
        scc.encode([])
    with pytest.raises(ValueError, match="candidate 1 is a str"):
        scc.encode([cells.FIGURE_1B, "conv3x3"])


# ---------------------------------------------------------------------------------------------
# The three controllers
# ---------------------------------------------------------------------------------------------

def lists_of(archs, list_size, length=None):
    """(lists, list_size, T, D) tokens of `archs`, cut in order (len a multiple of list_size)."""
    x = scc.encode(archs, length)
    return x.reshape(len(archs) // list_size, list_size, *x.shape[1:])


@pytest.fixture(scope="module")
def models():
    return {kind: scc_model.build_model(kind) for kind in scc_model.KINDS}


@pytest.mark.parametrize("kind", scc_model.KINDS)
def test_output_shape_for_any_list_and_sequence_length(models, kind):
    archs = list(cells.ROUND0[:6]) + list(grow_trim.generate(cells.FIGURE_1B).grow[:6])
    for batch, size in ((2, 3), (1, 12), (4, 3)):
        x = lists_of(archs[:batch * size], size)
        assert models[kind].predict_on_batch(x).shape == (batch, size)
    # More padding at the end of every sequence changes nothing: the token mask hides it.
    x = lists_of(archs, 4)
    np.testing.assert_allclose(models[kind].predict_on_batch(x),
                               models[kind].predict_on_batch(lists_of(archs, 4, length=40)),
                               atol=1e-5)


@pytest.mark.parametrize("kind", scc_model.KINDS)
def test_only_scc_scores_depend_on_the_other_candidates(models, kind):
    target = cells.FIGURE_1B
    x = lists_of(list(cells.ROUND0[:3]) + [target] + list(cells.ROUND0[40:43]) + [target], 4)
    scores = models[kind].predict_on_batch(x)  # (2, 4): the same target after other candidates
    if kind == "scc":
        assert abs(scores[0, 3] - scores[1, 3]) > 1e-4
    else:
        assert scores[0, 3] == pytest.approx(scores[1, 3], abs=1e-5)


def test_list_mse_is_eq_3_over_the_real_candidates():
    loss = scc_model.ListMSE()
    # (1 - 0)^2 and (2 - 0)^2 count, the padded third position does not: (1 + 4) / 2.
    value = loss(np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 0.0, 100.0]]),
                 sample_weight=np.array([[1.0, 1.0, 0.0]]))
    assert float(value) == pytest.approx(2.5)


def test_pairwise_loss_adds_ranknet_over_the_ordered_real_pairs():
    loss = scc_model.ListMSEPairwise()
    # MSE (1 + 4) / 2 as above; one ordered pair of real candidates, 2 > 1, both scored 0:
    # log(1 + e^0). The padded third candidate is in no pair.
    value = loss(np.array([[1.0, 2.0, 3.0]]), np.array([[0.0, 0.0, 100.0]]),
                 sample_weight=np.array([[1.0, 1.0, 0.0]]))
    assert float(value) == pytest.approx(2.5 + math.log(2))
    # Scored in the right order by a margin of 3: log(1 + e^-3) for that pair.
    value = loss(np.array([[1.0, 2.0]]), np.array([[1.0, 4.0]]))
    assert float(value) == pytest.approx((0 + 4) / 2 + math.log1p(math.exp(-3)))


def test_unknown_kind_and_bad_settings():
    with pytest.raises(ValueError, match="scc, single, double"):
        scc_model.build_model("lstm")
    with pytest.raises(ValueError, match="list_size must be at least 1"):
        scc.Controller(list_size=0)
    with pytest.raises(ValueError, match="unknown loss 'hinge'; known: mse, mse\\+pairwise"):
        scc_model.build_model("scc", loss="hinge")


# ---------------------------------------------------------------------------------------------
# The Controller
# ---------------------------------------------------------------------------------------------

def conv3x3_layers(arch):
    return sum(op == "conv3x3" for block in arch.blocks for cell in block
               for i, op in zip(cell.inputs, cell.ops) if i is not None)


@pytest.fixture(scope="module")
def synthetic():
    """Candidates of round 0 and two grown bases, y = -(conv3x3 layers) + noise.

    At most 24 per conv3x3 count: most candidates share a few counts, and the noise alone
    cannot rank candidates of one count, so without balancing even the exact count would leave
    Kendall tau near 0.75. Balanced, the exact count reaches 0.93 on the held-out part.
    """
    base = cells.one_cell("conv3x3", "conv3x3")
    first = grow_trim.generate(base)
    second = grow_trim.generate(next(a for a in first.grow if conv3x3_layers(a) == 20))
    by_count = collections.defaultdict(list)
    for arch in cells.ROUND0 + first.candidates + second.candidates:
        by_count[conv3x3_layers(arch)].append(arch)
    rng = random.Random(0)
    archs = [a for count in sorted(by_count)
             for a in rng.sample(by_count[count], min(24, len(by_count[count])))]
    rng.shuffle(archs)
    y = -np.array([conv3x3_layers(a) for a in archs]) + np.random.default_rng(0).normal(
        0, 0.1, len(archs))
    return archs, y


@pytest.mark.slow
def test_scc_learns_a_synthetic_ranking(synthetic):
    archs, y = synthetic
    n = int(0.7 * len(archs))
    ctrl = scc.Controller("scc", list_size=20, seed=0)
    assert not ctrl.trained
    ctrl.fit(archs[:n], y[:n], epochs=30, batch_size=2)
    assert ctrl.trained
    report = ranking.ranking_report(y[n:], ctrl.predict(archs[n:]), ks=(10,))
    assert report["kendall_tau"] >= 0.8, report


@pytest.mark.slow
def test_fit_is_deterministic_and_save_load_predicts_identically(synthetic, tmp_path):
    archs, y = synthetic
    first, second = (scc.Controller("scc", list_size=8, seed=3) for _ in range(2))
    for ctrl in (first, second):
        ctrl.fit(archs[:40], y[:40], epochs=2, batch_size=2)
    np.testing.assert_array_equal(first.predict(archs), second.predict(archs))
    path = tmp_path / "controller.keras"
    first.save(path)
    loaded = scc.Controller.load(path)
    assert (loaded.kind, loaded.list_size, loaded.trained) == ("scc", 8, True)
    np.testing.assert_array_equal(loaded.predict(archs), first.predict(archs))


@pytest.mark.slow
def test_reinitialized_controller_trains_and_scores_as_a_new_one_of_its_seed():
    """What lets a search keep one controller (one traced model) across its rounds."""
    archs, y = cells.ROUND0[:12], np.linspace(0.0, 1.0, 12)
    reused = scc.Controller("scc", list_size=4, seed=1)
    reused.fit(archs[:8], y[:8], epochs=2, batch_size=2)
    reused.reinitialize(2)
    assert (reused.seed, reused.trained) == (2, False)
    new = scc.Controller("scc", list_size=4, seed=2)
    for ctrl in (reused, new):
        ctrl.fit(archs, y, epochs=2, batch_size=2)  # 3 lists: the last batch is padded
    np.testing.assert_array_equal(reused.predict(archs), new.predict(archs))
    assert int(reused.model.optimizer.iterations) == int(new.model.optimizer.iterations) == 4


def test_an_eager_controller_trains_and_scores_as_a_traced_one():
    """run_eagerly (search.py's --run_eagerly, Table 3's smoke runs) changes how the steps run,
    not what they compute."""
    archs, y = cells.ROUND0[:8], np.linspace(0.0, 1.0, 8)
    traced, eager = (scc.Controller("scc", list_size=4, seed=5, run_eagerly=flag)
                     for flag in (False, True))
    assert (traced.model.run_eagerly, eager.model.run_eagerly) == (False, True)
    for ctrl in (traced, eager):
        ctrl.fit(archs, y, epochs=2, batch_size=2)
    np.testing.assert_allclose(eager.predict(archs), traced.predict(archs), atol=1e-5)


def test_fit_errors():
    ctrl = scc.Controller("single", list_size=4)
    with pytest.raises(ValueError, match="3 candidates but y has shape"):
        ctrl.fit(cells.ROUND0[:3], [0.0, 1.0])
    with pytest.raises(ValueError, match="no candidates"):
        ctrl.fit([], [])
    with pytest.raises(ValueError, match="no candidates"):
        ctrl.predict([])


def test_predict_keeps_input_order_and_ignores_padding():
    archs = list(cells.ROUND0[::7]) + [cells.FIGURE_1B]  # 8 candidates
    single = scc.Controller("single", list_size=3)
    # 8 = 3 + 3 + 2 real candidates: one at a time must give the same scores in the same order.
    alone = np.concatenate([single.predict([a]) for a in archs])
    np.testing.assert_allclose(single.predict(archs), alone, atol=1e-5)
    # The SCC looks only backwards: the last list's two candidates score the same whether
    # padding or real candidates follow them.
    ranker = scc.Controller("scc", list_size=3)
    np.testing.assert_allclose(ranker.predict(archs), ranker.predict(archs + archs[:1])[:8],
                               atol=1e-5)
    np.testing.assert_allclose(ranker.predict(archs)[:6], ranker.predict(archs[:6]), atol=1e-5)
