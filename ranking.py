"""Ranking metrics of Table 3, AP@k and NDCG@k of a predicted ranking against the true one, and
the rank correlations the predictor literature (NASLib) reports, Kendall's tau and Spearman's
rho; ``ranking_report`` gives them all. NumPy and SciPy only.
"""

import numpy as np
import scipy.stats


def _check_pair(y_true, y_pred, where):
    y_true = np.asarray(y_true, np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, np.float64).reshape(-1)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{where}: y_true has {len(y_true)} values, y_pred {len(y_pred)}")
    if not len(y_true):
        raise ValueError(f"{where}: no candidates")
    return y_true, y_pred


def top_k(values, k):
    """Indices of the k largest values, best first; ties go to the earlier candidate."""
    return np.argsort(-values, kind="stable")[:k]


def _clip_k(k, n, where):
    if k < 1:
        raise ValueError(f"{where}: k must be at least 1, got {k}")
    return min(k, n)


def ap_at_k(y_true, y_pred, k):
    """Average precision of the predicted top-k against the true top-k.

    With p_1 .. p_k the k candidates of highest y_pred, best first, and R the k candidates of
    highest y_true: AP@k = (1/k) * sum_{i=1..k} precision@i * [p_i in R], where precision@i =
    |{p_1..p_i} & R| / i. 1.0 iff the predicted top-k is the true top-k, in any order. k larger
    than n is taken as n. Ties in either ranking go to the candidate listed first.
    """
    y_true, y_pred = _check_pair(y_true, y_pred, "ap_at_k")
    k = _clip_k(k, len(y_true), "ap_at_k")
    relevant = np.isin(top_k(y_pred, k), top_k(y_true, k))  # [p_i in R], i = 1..k
    precision = np.cumsum(relevant) / np.arange(1, k + 1)
    return float(np.sum(precision * relevant) / k)


def ndcg_at_k(y_true, y_pred, k):
    """Normalized discounted cumulative gain of the predicted top-k, graded by true rank.

    The true best candidate has relevance k, the true 2nd k-1, ..., the true k-th 1, all others
    0. DCG@k = sum_{i=1..k} rel(p_i) / log2(i + 1), with p_i the i-th candidate by y_pred;
    NDCG@k = DCG@k / IDCG@k, IDCG@k being the DCG@k of the true order,
    sum_{i=1..k} (k - i + 1) / log2(i + 1). k larger than n is taken as n; ties as in ap_at_k.
    """
    y_true, y_pred = _check_pair(y_true, y_pred, "ndcg_at_k")
    k = _clip_k(k, len(y_true), "ndcg_at_k")
    relevance = np.zeros(len(y_true))
    relevance[top_k(y_true, k)] = np.arange(k, 0, -1)
    discount = 1 / np.log2(np.arange(2, k + 2))  # 1 / log2(i + 1), i = 1..k
    dcg = np.sum(relevance[top_k(y_pred, k)] * discount)
    idcg = np.sum(np.arange(k, 0, -1) * discount)
    return float(dcg / idcg)


def kendall_tau(y_true, y_pred):
    """Kendall's tau-b (scipy.stats.kendalltau) of the two rankings; NaN if one is constant."""
    y_true, y_pred = _check_pair(y_true, y_pred, "kendall_tau")
    return float(scipy.stats.kendalltau(y_true, y_pred).statistic)


def spearman_rho(y_true, y_pred):
    """Spearman's rank correlation (scipy.stats.spearmanr); NaN if one ranking is constant."""
    y_true, y_pred = _check_pair(y_true, y_pred, "spearman_rho")
    return float(scipy.stats.spearmanr(y_true, y_pred).statistic)


def ranking_report(y_true, y_pred, ks=(50, 100)):
    """{"AP@k", "NDCG@k" for each k in ks, "kendall_tau", "spearman_rho"}.

    A k above the number of candidates n is computed as k = n, under its own key (with 60
    candidates "AP@100" is AP@60), so reports of different sizes keep the same keys.
    """
    report = {}
    for k in ks:
        report[f"AP@{k}"] = ap_at_k(y_true, y_pred, k)
        report[f"NDCG@{k}"] = ndcg_at_k(y_true, y_pred, k)
    report["kendall_tau"] = kendall_tau(y_true, y_pred)
    report["spearman_rho"] = spearman_rho(y_true, y_pred)
    return report
