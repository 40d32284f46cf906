"""How predictions leave: the answer format a client's Accept header asks for, and the flat rows
that CSV answers and batch predict's output files are made of."""

from __future__ import annotations

import csv
import io
import json

from ..core.io import flatten

JSON = "application/json"
CSV = "text/csv"


def answer_types(content_types) -> tuple[str, ...]:
    """What a model can answer in: JSON always; CSV too for a tabular model (one that reads CSV),
    one line per input row, as SageMaker batch transform joins answers to inputs line by line."""
    return (JSON, CSV) if CSV in content_types else (JSON,)


def negotiate(accept: str, offered: tuple[str, ...]) -> str | None:
    """The offered type the Accept header prefers (no header or */*: the first offered), or None."""
    if not accept.strip():
        return offered[0]
    ranked = []
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, media.lower()))
    for _, _, media in sorted(ranked):
        for kind in offered:
            if media in (kind, "*/*", kind.split("/")[0] + "/*"):
                return kind
    return None


def flat_row(prediction: dict) -> dict:
    """{"class": …, "probabilities": {"Forest": …}} -> {"class": …, "probabilities.Forest": …}; bools as 0/1."""
    return {key: int(value) if isinstance(value, bool) else value for key, value in flatten(prediction).items()}


def encode(predictions: list[dict], media: str) -> bytes:
    """The response body: {"predictions": [...]} (SageMaker's and MLflow's JSON), or CSV lines
    without a header, the fields in the order GET /model's output lists them."""
    if media == CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for prediction in predictions:
            writer.writerow(flat_row(prediction).values())
        return out.getvalue().encode()
    return json.dumps({"predictions": predictions}).encode()
