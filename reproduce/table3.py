"""What both Table 3 scripts share: the controllers compared, the budget every one of them
gets, the metrics and how a held-out set is scored (table3_controller.py on a search's
candidates, table3_nb201.py on NAS-Bench-201 cells)."""

import dataclasses

import numpy as np

import ranking
import scc
import scc_model

CONTROLLERS = (("single", "Single-RNN"), ("double", "Double-RNN"), ("scc", "SCC"))
PAPER_METRICS = ("AP@50", "AP@100", "NDCG@50", "NDCG@100")  # the columns of paper.TABLE3
METRICS = PAPER_METRICS + ("kendall_tau", "spearman_rho")

# Flag defaults by --benchmark (None: a search's candidates). On NAS-Bench-201, 5 seeds, and
# fewer epochs at a higher rate to fit 45 controllers in about 15 minutes on 2 cores
# (docs/nasbench201.md).
DEFAULTS = {None: dict(out_dir="runs/reproduce/table3_controller", seeds=3, epochs=100,
                       learning_rate=1e-3),
            "nb201": dict(out_dir="runs/reproduce/table3_nb201", seeds=5, epochs=50,
                          learning_rate=3e-3)}


@dataclasses.dataclass(frozen=True)
class Budget:
    """What every controller gets: the same epochs, learning rate, lists, loss and seeds."""
    seeds: int = 3
    epochs: int = 100
    learning_rate: float = 1e-3
    list_size: int = 100
    batch_size: int = 8  # lists per batch, as in scc.Controller.fit
    loss: str = "mse"  # scc_model.LOSSES: Eq. 3, or Eq. 3 plus a pairwise ranking term
    run_eagerly: bool = False  # scc.Controller's: how the steps run, not what they compute

    def __post_init__(self):
        # Each field by the flag that sets it (batch_size has none).
        for name, flag in (("seeds", "--seeds"), ("epochs", "--controller_epochs"),
                           ("list_size", "--list_size"), ("batch_size", "Budget.batch_size")):
            if getattr(self, name) < 1:
                raise ValueError(f"{flag}: must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning_rate: must be positive, got {self.learning_rate}")
        if self.loss not in scc_model.LOSSES:
            raise ValueError(f"--loss: must be one of {', '.join(scc_model.LOSSES)}, got "
                             f"{self.loss!r}")

    def train(self, kind, seed, archs, y, space="memnas", kept=None):
        """A controller of `kind` trained on `archs` and their `y` with this budget. `kept`: a
        dict the caller keeps across calls; the controller of the same kind and space trained
        last is reinitialized (scc.Controller.reinitialize: the state of a new one of `seed`)
        instead of built again, so its model is traced once: seconds a controller."""
        controller = (kept or {}).get((kind, space))
        if controller is None:
            controller = scc.Controller(kind, list_size=self.list_size,
                                        learning_rate=self.learning_rate, seed=seed,
                                        space=space, loss=self.loss,
                                        run_eagerly=self.run_eagerly)
            if kept is not None:
                kept[(kind, space)] = controller
        else:
            controller.reinitialize(seed)
        controller.fit(archs, y, epochs=self.epochs, batch_size=self.batch_size)
        return controller


def rank_held_out(controller, archs, y, seed):
    """ranking.ranking_report of `controller` on held-out `archs`, scored as the search scores
    candidates (lists of its list_size) but in a seeded random order, not the order given (a
    search's records are in its own ranking, which an SCC list could otherwise pick up)."""
    order = np.random.default_rng(seed).permutation(len(archs))
    predicted = np.empty(len(order))
    predicted[order] = controller.predict([archs[i] for i in order])
    return ranking.ranking_report(y, predicted)


def summarize(reports):
    """{metric: {"mean", "std", "values"}} over seeds; NaN (a constant ranking) as None."""
    out = {}
    for metric in METRICS:
        values = [report[metric] for report in reports]
        finite = [v for v in values if np.isfinite(v)]
        out[metric] = {"mean": float(np.mean(finite)) if finite else None,
                       "std": float(np.std(finite)) if finite else None,
                       "values": [float(v) if np.isfinite(v) else None for v in values]}
    return out


def clipped_k(n):
    """The k each @k column was computed at, for n held-out candidates."""
    return {metric: min(int(metric.split("@")[1]), n) for metric in PAPER_METRICS}


def column_names(n, sep=" "):
    """The @k column names, each saying the k it was computed at where that is n < k."""
    return [metric if k == int(metric.split("@")[1]) else f"{metric}{sep}(k={k})"
            for metric, k in clipped_k(n).items()]
