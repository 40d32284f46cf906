"""Published models in use: an HTTP server (`python -m modelmill.serve`, SageMaker's inference
contract) and a batch command (`python -m modelmill.serve.predict`), both loading a version
straight from the registry (or the workspace's own outputs, or SageMaker's /opt/ml/model) and
both answering through the line's `predictor` module."""
