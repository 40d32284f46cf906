"""`make predict MODEL=… INPUT=… OUTPUT=…`: a published model over a folder of tiles or a CSV of rows.

    python -m modelmill.serve.predict --model eurosat-resnet18 --input tiles/ --output predictions.csv
    python -m modelmill.serve.predict --model fire-ensemble --input rows.csv --output predictions.csv

Loads the model exactly as the server does and predicts through the same predictor code
(landcover: every .jpg/.jpeg/.png under the folder; fire: a CSV of the 18 features, header
optional). Writes one CSV row per input: its file or row number, then the prediction's
fields. The output appears only once complete.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ..core.cli import UserError, cli
from ..core.io import atomic_output
from ..core.progress import bar
from . import loading
from .answers import flat_row

PROG = "python -m modelmill.serve.predict"


def predict_file(predictor, source: Path, dest: Path) -> int:
    """Predict every input in `source` and write `dest`; returns the number of inputs."""
    total, batches = predictor.batches(source)
    with (
        atomic_output(dest) as tmp,
        open(tmp, "w", newline="") as f,
        bar(total, "predict", unit=predictor.id_column) as progress,
    ):
        writer = None
        for ids, inputs in batches:
            for name, prediction in zip(ids, predictor.predict(inputs)):
                row = {predictor.id_column: name, **flat_row(prediction)}
                if writer is None:
                    writer = csv.DictWriter(f, list(row), lineterminator="\n")
                    writer.writeheader()
                writer.writerow(row)
            progress.update(len(ids))
    return total


def check_output(source_text: str, dest_text: str) -> None:
    """The predictions go to a file of their own: never over the input, nor into the folder read.
    (Checked on the text given: as a Path, an empty value is ".", the folder one stands in.)"""
    if not source_text.strip():
        raise UserError("--input is empty; name a folder of images or a CSV")
    if not dest_text.strip():
        raise UserError("--output is empty; name the CSV file to write")
    source, dest = Path(source_text), Path(dest_text)
    if dest.is_dir():
        raise UserError(f"--output {dest_text!r} is a folder; name the CSV file to write")
    src, out = source.resolve(), dest.resolve()
    if out == src:
        raise UserError(f"--output {dest} is the input; write the predictions to another file")
    if src.is_dir() and out.is_relative_to(src):
        raise UserError(f"--output {dest} is inside the input folder {source}; write it elsewhere")


@cli
def main() -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    loading.add_arguments(parser)
    parser.add_argument("--input", required=True, help="landcover: a folder of tiles; fire: a CSV")
    parser.add_argument("--output", required=True, help="the predictions CSV to write")
    args = parser.parse_args()
    check_output(args.input, args.output)  # before the model is fetched: a mistake costs nothing
    args.input, args.output = Path(args.input), Path(args.output)
    loaded = loading.load(args)
    info = loaded.predictor.model_info()
    n = predict_file(loaded.predictor, args.input, args.output)
    print(
        f"predict: {n} {loaded.predictor.id_column}(s) through {info['name']} {info['version']} "
        f"from {loaded.source} -> {args.output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
