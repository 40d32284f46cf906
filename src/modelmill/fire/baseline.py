"""The fire line's monitoring baseline (core/baseline.py): the 18 features on the training split,
p(fire) and the positive rate at the published threshold on the test split, scored by the ensemble.

Read from the line's folder (pipelines/fire) after the ensemble stage: data/split/{train,test}.csv
and models/fire_ensemble.skops. Publish writes it as baseline.json beside metadata.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.baseline import make_baseline, probability_summary
from .features import read_split
from .models import load_model, predict_fire
from .paths import ENSEMBLE_FILE, SPLIT_DIR
from .summaries import fire_columns


def reference_inputs(folder: Path, key: str = "") -> np.ndarray:
    """The test split's rows, (n, 18) in FEATURES order as the predictor's decode gives them: the
    rows whose p(fire) the baseline holds, their features drawn as the training split's are."""
    return read_split(Path(folder) / SPLIT_DIR, "test").x


def baseline(folder: Path, key: str = "") -> dict:
    folder = Path(folder)
    train = read_split(folder / SPLIT_DIR, "train")
    test = read_split(folder / SPLIT_DIR, "test")
    model = load_model(folder / ENSEMBLE_FILE, "ensemble")
    return tabular_baseline(train.x, predict_fire(model, test.x), float(model.threshold))


def tabular_baseline(x_train: np.ndarray, p_test: np.ndarray, threshold: float) -> dict:
    """The baseline of training rows `x_train` (n, 18) and the model's p(fire) `p_test` on test rows."""
    return make_baseline(
        kind="tabular",
        line="fire",
        features=fire_columns(x_train),
        prediction=probability_summary(p_test, threshold),
        reference={"features": "train split", "prediction": "test split, scored by the model"},
    )
