"""The fire line's params.yaml (pipelines/fire/params.yaml): its sections, their rules and its loader."""

from __future__ import annotations

from pathlib import Path

from ..core.cli import cli
from ..core.config import PublishConfig, SplitConfig, check_fractions, choice, load, mark_checked, section, span
from ..core.drift_params import DriftParams

PARAMS_FILE = Path("params.yaml")
MODEL_NAMES = ("forest", "boosting", "logistic")


@section
class DataConfig:
    source: str = choice("synthetic", "csv")
    csv: str  # with source: csv; relative to pipelines/fire
    n_samples: int = span(100, 10_000_000)  # with source: synthetic
    seed: int


@section
class ForestConfig:
    n_estimators: int = span(1, 10_000)
    max_depth: int = span(1, 100)
    min_samples_leaf: int = span(1, 1_000_000)
    max_features: str = choice("sqrt", "log2", "all")
    n_jobs: int = span(0, 1024)  # 0: one per CPU core
    seed: int


@section
class BoostingConfig:
    variant: str = choice("hist", "classic")
    n_estimators: int = span(1, 10_000)
    learning_rate: float = span(0.0, 1.0, open_low=True)
    max_depth: int = span(1, 100)
    min_samples_leaf: int = span(1, 1_000_000)
    max_features: float = span(0.0, 1.0, open_low=True)  # share of the features each split may choose from
    seed: int


@section
class LogisticConfig:
    C: float = span(0.0, 1e9, open_low=True)  # inverse L2 strength
    max_iter: int = span(1, 1_000_000)


@section
class TrainConfig:
    features: str = choice("raw", "over_room")  # over_room: the 18 plus four temperatures over the room (over_room.py)
    forest: ForestConfig
    boosting: BoostingConfig
    logistic: LogisticConfig


@section
class EnsembleConfig:
    score: str = choice("log_loss", "roc_auc")
    temperature: float = span(0.0, 1000.0, open_low=True)
    threshold: str = choice("max_f1", "recall_floor")
    recall_floor: float = span(0.0, 1.0, open_low=True)
    refit: bool  # the chosen members fitted again on train + val


@section
class EvaluateConfig:
    curve_points: int = span(2, 100_000)
    calibration_bins: int = span(2, 1000)
    bootstrap_resamples: int = span(10, 1_000_000)  # paired resamples of the test rows for the gap's interval
    bootstrap_seed: int


@section
class Params:
    data: DataConfig
    split: SplitConfig
    train: TrainConfig
    ensemble: EnsembleConfig
    evaluate: EvaluateConfig
    publish: PublishConfig
    monitor: DriftParams  # make monitor's drift thresholds (monitor/drift.py)


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    return load(path, Params, (_check_split, _check_csv))


def _check_split(params: Params) -> list[str]:
    return check_fractions("split", params.split, exact=True)


def _check_csv(params: Params) -> list[str]:
    if params.data.source == "csv" and not params.data.csv.strip():
        return ["data.source is csv but data.csv is empty; set it to your file's path (relative to pipelines/fire)"]
    return []


@cli
def main() -> None:
    """The `params` stage: the whole params.yaml checked, before any other stage runs."""
    load_params()
    mark_checked()


if __name__ == "__main__":
    main()
