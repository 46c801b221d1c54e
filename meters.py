"""How far a search is, and when it will end: one meter for a round's candidates and one for
its rounds, whoever trains the candidates (this process or Ray workers).

An ETA is the mean time per item done so far, times the items left:

    eta = elapsed / done * (total - done)

For a round's candidates that is the search's only estimate (candidates of one round cost
about the same); for the rounds it is an upper bound, as a search may stop early (no
candidate improves y) and a resumed one counts only the rounds run since it resumed.
"""

import sys
import time


def clock(seconds):
    """Seconds as H:MM:SS."""
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


class Meter:
    """Progress through `total` items, started when made: `line(done)` says how many are done
    (of `unit`), the time elapsed and the ETA (the module docstring's formula; none before
    the first). With `bar` (the name of one item), `draw(done)` also draws Keras' progress
    bar of them, for a terminal: `terminal_log` prints the lines that go between updates."""

    def __init__(self, total, unit="", now=time.monotonic, bar=None):
        self.total, self.unit, self.now, self.begin = total, unit, now, now()
        self.bar = None
        if bar and total:
            import keras  # only a terminal's search draws a bar
            self.bar = keras.utils.Progbar(total, unit_name=bar)

    def draw(self, done):
        if self.bar is not None:
            self.bar.update(done)
            sys.stdout.flush()

    def line(self, done):
        elapsed = self.now() - self.begin
        eta = f", ETA {clock(elapsed / done * (self.total - done))}" if done else ""
        return f"{done}/{self.total}{self.unit}, {clock(elapsed)} elapsed{eta}"


def terminal_log(line):
    """print for a terminal with a progress bar on its last line: the line replaces the bar
    (carriage return, erase to the end of the line), which its next update draws again."""
    sys.stdout.write(f"\r\033[K{line}\n")
    sys.stdout.flush()
