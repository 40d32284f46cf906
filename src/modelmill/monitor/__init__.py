"""Watching a served model: what it sees against what it was made from.

- baseline.py: baseline.json, built by each line (fire/baseline.py, landcover/baseline.py) from
  its outputs and published beside metadata.json;
- summaries.py: what is kept of a request's inputs (a fire row's features, a tile's summary);
- capture.py: the server's sampled, asynchronous JSON Lines capture (a folder or S3);
- records.py: reading a capture back; drift.py: the tests; params.py: their thresholds;
- live.py: rolling scores for the server's gauges;
- report.py, figure.py and __main__.py: `python -m modelmill.monitor`;
- overhead.py: what capture costs a request (for the benchmark table).

Nothing is imported here, so the server takes only the modules it uses.
"""
