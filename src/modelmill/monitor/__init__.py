"""Watching a served model: what it sees against what it was made from.

The baseline.json format, its statistics, the drift thresholds and the shared image summaries live
in the core (core/baseline.py, stats.py, drift_params.py, summaries.py), where each line builds its
baseline and says how its traffic is summarised; this package imports the core only:

- capture.py: the server's sampled, asynchronous JSON Lines capture (a folder or S3);
- records.py: reading a capture back; drift.py: the tests;
- live.py: rolling scores for the server's gauges;
- report.py and figure.py: report.json and report.png, and filing them by model and version;
- history.py: where the filed reports go, and reading a model's back (for a page that shows them).

`python -m modelmill.monitor` (__main__.py) is the command above them all, beside the registry's:
it alone reaches the registry, for a version's published baseline.

Nothing is imported here, so the server takes only the modules it uses.
"""
