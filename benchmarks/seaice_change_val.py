"""The sea-ice change detector's val IoU for a variant of the params: what a choice buys on val.

    python benchmarks/seaice_change_val.py                                  # the defaults
    python benchmarks/seaice_change_val.py train.change.epochs=30 split.pair_stride=3
    python benchmarks/seaice_change_val.py --clean                          # the ceiling's detector

Generates and splits the line's data with the line's params.yaml plus the dotted-key overrides, in a
throwaway folder, trains the change detector (or, with --clean, the ceiling's: the same detector on
clean renders) on one thread, without `train.change.refit` (val stays out of training), and prints
its best epoch's val scores and the training time. Reads no test data. The time is what this run
took with whatever else was running: an upper bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from modelmill.seaice.generate import make_daily  # noqa: E402
from modelmill.seaice.params import load_params  # noqa: E402
from modelmill.seaice.paths import CEILING  # noqa: E402
from modelmill.seaice.split import split_days  # noqa: E402
from modelmill.seaice.training import train_model  # noqa: E402

PARAMS = REPO / "pipelines/seaice/params.yaml"


def val_scores(overrides: dict[str, str], clean: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="seaice-change-val-") as tmp:
        folder = Path(tmp)
        raw = yaml.safe_load(PARAMS.read_text())
        # refit off: val must stay out of training to score anything (train.change.refit=true is refused below)
        for dotted, value in {"train.change.threads": "1", "train.change.refit": "false", **overrides}.items():
            *parents, leaf = dotted.split(".")
            tree = raw
            for key in parents:
                tree = tree[key]
            tree[leaf] = yaml.safe_load(value)
        (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        params = load_params(folder / "params.yaml")
        if params.train.change.refit:
            raise SystemExit("train.change.refit=true trains on val: there is no val score to print")
        data = folder / "data"
        make_daily(params.data, data / "daily.npz")
        split_days(params.split, data / "daily.npz", data / "split.json", data / "sets", folder / "data.json")
        start = time.perf_counter()
        card = train_model(CEILING if clean else "change", params.train, folder)
        assert card is not None  # one process
        return {"best_epoch": card["best_epoch"], **card["val"], "train_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="dotted params, e.g. train.change.epochs=30")
    parser.add_argument("--clean", action="store_true", help="the ceiling's detector, on clean renders")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.overrides)
    print(json.dumps({"overrides": overrides, "clean": args.clean, **val_scores(overrides, args.clean)}))


if __name__ == "__main__":
    main()
