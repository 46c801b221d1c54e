"""The memory-efficiency metric y of MemNAS (paper Eq. 4): how much better a candidate is than
the base network it was grown or trimmed from, in accuracy and in memory.

    y = lambda * (a - a_pre) / a_pre + (1 - lambda) * ((r_pre - r) / r_pre + (p_pre - p) / p_pre)

``a`` is the accuracy on a validation split held out of the training data (never the test
split), ``r`` the intermediate memory (``activation_bytes``) and ``p`` the parameter memory
(``param_bytes``) of lifetime.py; ``pre`` is the base. y > 0: the candidate is better.

**The sign.** The paper prints the memory terms as ``(r_i - r_pre) / r_pre``, which rewards
*more* memory and contradicts its own text ("lambda = 0 makes MemNAS solely aiming to minimize
the memory requirement"). The authors' code uses the reduction ``(pre - i) / pre``, and so does
this file.

Plain Python: the search's readers (reproduce/) use it without loading TensorFlow.
"""

import dataclasses
import statistics


@dataclasses.dataclass(frozen=True)
class Stats:
    """What Eq. 4 compares: validation accuracy (None: not trained yet) and memory in bytes."""
    accuracy: float | None
    param_bytes: int
    activation_bytes: int


def memory_efficiency(candidate, pre, lambda_):
    """Eq. 4 with the reduction sign: > 0 when `candidate` beats the base `pre` (both Stats).

        y = lambda * (a - a_pre) / a_pre
            + (1 - lambda) * ((r_pre - r) / r_pre + (p_pre - p) / p_pre)

    A candidate without accuracy (not trained yet) is scored by the memory terms alone, which
    is how candidates are ranked before any controller has seen data.
    """
    r, r_pre = candidate.activation_bytes, pre.activation_bytes
    p, p_pre = candidate.param_bytes, pre.param_bytes
    memory = (r_pre - r) / r_pre + (p_pre - p) / p_pre
    if candidate.accuracy is None:
        return (1 - lambda_) * memory
    a, a_pre = candidate.accuracy, pre.accuracy
    return lambda_ * (a - a_pre) / a_pre + (1 - lambda_) * memory


def round0_reference(memories, num_classes):
    """The `pre` of round 0, which has no base network: chance accuracy (1 / num_classes) and
    the median memory of the round's candidates (`memories`: Stats without accuracy)."""
    return Stats(accuracy=1.0 / num_classes,
                 param_bytes=statistics.median(m.param_bytes for m in memories),
                 activation_bytes=statistics.median(m.activation_bytes for m in memories))


def rank_scores(memories, pre, lambda_, predictions=None, target="accuracy"):
    """The score each candidate is ranked by before it is trained, higher first.

    memories: Stats without accuracy, exact. predictions: the controller's output per candidate,
    or None before it has seen data, when only the memory terms of Eq. 4 count. With target
    "y" (the paper's Eq. 3) the controller predicts y itself; with "accuracy" it predicts only
    the accuracy, and the score is Eq. 4 of that prediction and the exact memory terms, so the
    ranking never has to learn what it can compute.
    """
    if predictions is None:
        return [memory_efficiency(m, pre, lambda_) for m in memories]
    if target == "y":
        return [float(y) for y in predictions]
    return [memory_efficiency(dataclasses.replace(m, accuracy=float(a)), pre, lambda_)
            for a, m in zip(predictions, memories)]
