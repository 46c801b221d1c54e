"""efficiency.py: Eq. 4 and the scores candidates are ranked by, with numbers worked by hand."""
import pytest

from efficiency import Stats, memory_efficiency, rank_scores, round0_reference

PRE = Stats(accuracy=0.8, param_bytes=2000, activation_bytes=1000)


def test_half_the_intermediate_memory_at_equal_accuracy_scores_a_quarter_at_lambda_half():
    # y = 0.5 * 0 + 0.5 * ((1000 - 500) / 1000 + 0) = 0.25
    half = Stats(accuracy=0.8, param_bytes=2000, activation_bytes=500)
    assert memory_efficiency(half, PRE, 0.5) == pytest.approx(0.25)


def test_more_memory_is_worse_the_sign_the_paper_prints_would_reward_it():
    # y = 0.5 * ((1000 - 2000) / 1000 + (2000 - 4000) / 2000) = 0.5 * (-1 - 1) = -1
    bigger = Stats(accuracy=0.8, param_bytes=4000, activation_bytes=2000)
    assert memory_efficiency(bigger, PRE, 0.5) == pytest.approx(-1.0)


def test_lambda_one_counts_accuracy_only():
    # 0.88 is 10 % better than 0.8; the memory terms have weight 0.
    assert memory_efficiency(Stats(0.88, 9999, 9999), PRE, 1.0) == pytest.approx(0.1)


def test_an_untrained_candidate_is_scored_by_the_memory_terms_alone():
    # (1 - 0.2) * ((1000 - 500) / 1000 + (2000 - 1000) / 2000) = 0.8 * 1.0
    assert memory_efficiency(Stats(None, 1000, 500), PRE, 0.2) == pytest.approx(0.8)


def test_round0_reference_is_chance_accuracy_and_median_memory():
    memories = [Stats(None, 100, 10), Stats(None, 300, 40), Stats(None, 200, 20)]
    assert round0_reference(memories, 10) == Stats(0.1, 200, 20)


def test_ranking_adds_exact_memory_terms_to_the_predicted_accuracy():
    pre = Stats(accuracy=0.5, param_bytes=1000, activation_bytes=1000)
    memories = [Stats(None, 1000, 1000), Stats(None, 1000, 500), Stats(None, 4000, 1000)]
    # No controller yet: 0.5 * memory terms; 4x the parameters is 0.5 * -3 = -1.5.
    assert rank_scores(memories, pre, 0.5) == pytest.approx([0.0, 0.25, -1.5])
    # Predicted accuracy (default target): the big one's +50 % accuracy is worth 0.25, not
    # enough to pay for its parameters: 0.25 - 1.5 = -1.25.
    assert rank_scores(memories, pre, 0.5, [0.5, 0.5, 0.75]) == pytest.approx([0.0, 0.25, -1.25])
    # The paper's target: the controller's outputs are the scores.
    assert rank_scores(memories, pre, 0.5, [3.0, 2.0, 1.0], target="y") == [3.0, 2.0, 1.0]
