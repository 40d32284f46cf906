"""The EuroSAT land-cover line: ingest -> verify -> train -> evaluate (the root dvc.yaml)."""
