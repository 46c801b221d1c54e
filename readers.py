"""Reading searches back, finished or still running: a search.py out_dir as one ``Run`` (its
config, candidates, rounds and summary), the final network it found and what its accuracy is,
and the out_dirs under a folder. What reproduce/ and bench/ read; plain Python, no TensorFlow.
"""

import dataclasses
import glob
import os

import records


@dataclasses.dataclass(frozen=True)
class Run:
    """One search out_dir as read back: summary None while the search is unfinished."""
    out_dir: str
    config: records.RunConfig
    candidates: list
    rounds: list
    summary: records.Summary | None

    @property
    def lambda_(self):
        return self.config.search.lambda_

    @property
    def tested(self):
        """The final network's Final if it was trained and tested ("ok"), else None."""
        final = None if self.summary is None else self.summary.final
        return final if final is not None and final.ok else None

    def final(self):
        """(architecture, Stats) of the final network: summary.json's, or the last finished
        round's while the search is still going. The accuracy is the test accuracy after the
        final training where there was one (`tested`), else the search's validation accuracy;
        `accuracy_kind` says which."""
        if self.summary is not None:
            tested = self.tested
            return self.summary.best_arch, (self.summary.best if tested is None else
                                            tested.stats)
        if not self.rounds:
            raise ValueError(f"{self.out_dir}: no finished round yet")
        return self.rounds[-1].best_arch, self.rounds[-1].best

    @property
    def accuracy_kind(self):
        """What `final()`'s accuracy is, for the notes of a table."""
        tested = self.tested
        if tested is None:
            return "validation accuracy in the search (no final training)"
        return (f"test accuracy after the final training ({tested.epochs} epochs from scratch "
                f"on training + validation data)")

    def describe(self):
        """How the run was scaled down, for the notes of a table."""
        c = self.config
        return (f"{c.data}, filters {c.train['filters']}, {c.evaluation}, k {c.search.k}, "
                f"strategy {c.search.strategy}, {len(self.rounds)} rounds")

    def rounds_note(self):
        """Says when a search has fewer rounds than it was asked for, and why; else None."""
        asked, done = self.config.search.rounds, len(self.rounds)
        stalled = next((n for n, r in enumerate(reversed(self.rounds)) if r.improved), done)
        if stalled > self.config.search.patience and done < asked:
            rounds = "that round" if stalled == 1 else f"the last {stalled} rounds"
            return (f"stopped after round {done - 1} of 0..{asked - 1}: no candidate of "
                    f"{rounds} improved y over its base (the base is kept)")
        if self.summary is None:
            return f"unfinished: {done} of {asked} rounds so far"
        if done < asked and self.config.search.budgets():  # the only other early stop
            return (f"stopped after round {done - 1} of 0..{asked - 1}: no candidate of round "
                    f"{done} fits the memory budget")
        return None if done >= asked else f"{done} of {asked} rounds"


def load_run(path):
    """A search out_dir, read only; ValueError naming the directory if it is not one."""
    if not os.path.isdir(path):
        raise ValueError(f"{path}: no such directory")
    out = records.OutDir(path)
    config = out.config()
    if config is None:
        raise ValueError(f"{path}: not a search.py out_dir (no config.json)")
    return Run(path, config, out.candidates(), out.rounds(), out.summary())


def find_runs(paths):
    """Every search out_dir at or under the given paths (a directory holding several runs
    works), but the round 0 that several of them share (records.SHARED_ROUND0)."""
    found = []
    for path in paths:
        if not os.path.isdir(path):
            raise ValueError(f"--runs: {path}: no such directory")
        configs = sorted(glob.glob(os.path.join(path, "**", "config.json"), recursive=True))
        if not configs:
            raise ValueError(f"--runs: {path}: holds no search.py out_dir (no config.json)")
        found += [run for run in (load_run(os.path.dirname(c)) for c in configs)
                  if run.config.evaluation != records.SHARED_ROUND0]
    return found


def runs_by_lambda(runs):
    """{lambda: Run}, sorted by lambda; ValueError if two runs share a lambda."""
    found = {}
    for run in runs:
        if run.lambda_ in found:
            raise ValueError(f"two searches with lambda {run.lambda_}: "
                             f"{found[run.lambda_].out_dir} and {run.out_dir}; give one")
        found[run.lambda_] = run
    return dict(sorted(found.items()))
