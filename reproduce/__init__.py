"""One script per table and figure of the paper; each runs as ``python reproduce/NAME.py`` and
prints the paper's numbers beside ours. The shared pieces: paper.py (the paper's numbers),
baselines.py (the baseline networks of Tables 1 and 2), sweep.py (scaled-down and synthetic
searches) and report.py (text tables and plots)."""
