"""The biomass line's params.yaml (pipelines/biomass/params.yaml): its sections, their rules and its loader."""

from __future__ import annotations

from pathlib import Path

from ..core.cli import cli
from ..core.config import (
    PublishConfig,
    SplitConfig,
    check_fractions,
    check_machine_request,
    choice,
    load,
    mark_checked,
    run_checkpoint_uri,
    run_device,
    run_peer_timeout,
    run_precision,
    run_processes,
    run_threads,
    section,
    span,
)
from ..core.drift_params import DriftParams

PARAMS_FILE = Path("params.yaml")


@section
class DataConfig:
    source: str = choice("synthetic", "archive")
    archive: str  # with source: archive; a zip or folder, relative to pipelines/biomass
    rows: int = span(20, 1_000_000)  # synthetic: sheet rows (snapshots)
    plants: int = span(3, 100_000)  # synthetic: plants
    max_snapshots: int = span(1, 10_000)  # synthetic: most snapshots of one plant
    image_size: int = span(16, 2048)  # synthetic: the photos' side in pixels
    missing_label: float = span(0.0, 0.9)  # synthetic: share of rows without fresh_weight_total
    missing_age: float = span(0.0, 0.9)  # synthetic: share of rows without age_days
    seed: int


@section
class VerifyConfig:
    on_missing: str = choice("fail", "drop")  # a row naming an image that is not there
    image_size: int = span(16, 1024)  # the side every image is resized to, once, for train/evaluate


@section
class EdaConfig:
    sample_images: int = span(1, 64)  # photos in the sample-images figure
    pixel_images: int = span(1, 100_000)  # photos whose pixels make the per-channel histogram
    seed: int


@section
class TrainConfig:
    arch: str = choice("resnet18", "resnet34")
    pretrained: str = choice("none", "imagenet")
    freeze_backbone: bool  # train only the head (sensible with imagenet weights)
    dropout: float = span(0.0, 0.95)
    hidden: int = span(1, 65_536)  # the head: Dropout -> Linear(hidden) -> ReLU -> Linear(1)
    loss: str = choice("mse", "huber")
    huber_delta: float = span(0.0, 100.0, open_low=True)
    log_target: bool  # fit log1p(grams), report grams
    lr: float = span(0.0, 10.0, open_low=True)
    weight_decay: float = span(0.0, 10.0)
    epochs: int = span(1, 10_000)
    batch_size: int = span(1, 65_536)
    input_size: int = span(16, 1024)
    flip: bool
    rotate: bool  # 90-degree turns: a photo taken from above has no "up"
    color_jitter: float = span(0.0, 1.0)  # brightness/contrast/saturation strength; 0: off
    tta: bool  # predict the mean over the photo's 8 flips/turns (val, evaluate and serving alike)
    seed: int
    threads: int = run_threads()
    processes: int = run_processes()
    checkpoint_uri: str = run_checkpoint_uri()
    peer_timeout: int = run_peer_timeout()
    device: str = run_device()
    precision: str = run_precision()


@section
class EvaluateConfig:
    age_bin_days: int = span(1, 1000)  # width of the age bins of metrics/by_age.csv
    batch_size: int = span(1, 65_536)
    bootstrap_resamples: int = span(10, 1_000_000)  # resamples of the test plants: the interval of RMSE over floor
    bootstrap_seed: int


@section
class Params:
    data: DataConfig
    verify: VerifyConfig
    split: SplitConfig
    eda: EdaConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    publish: PublishConfig
    monitor: DriftParams  # make monitor's drift thresholds (monitor/drift.py)


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    return load(path, Params, (_check_split, _check_archive, _check_synthetic))


def _check_split(params: Params) -> list[str]:
    return check_fractions("split", params.split, exact=True)


def _check_archive(params: Params) -> list[str]:
    if params.data.source == "archive" and not params.data.archive.strip():
        return [
            "data.source is archive but data.archive is empty; set it to your zip or folder "
            "(relative to pipelines/biomass)"
        ]
    return []


def _check_synthetic(params: Params) -> list[str]:
    d = params.data
    if d.source == "synthetic" and d.plants * d.max_snapshots < d.rows:
        return [
            f"data.rows {d.rows} do not fit {d.plants} plants of at most {d.max_snapshots} snapshots; "
            "raise data.plants or data.max_snapshots"
        ]
    if d.source == "synthetic" and d.rows < d.plants:
        return [f"data.rows {d.rows} is below data.plants {d.plants}; every plant needs a snapshot"]
    return []


@cli
def main() -> None:
    """The `params` stage: the whole params.yaml checked and what train asks of this machine,
    before any other stage runs."""
    params = load_params()
    check_machine_request(params.train.device, params.train.precision, params.train.processes)
    mark_checked()


if __name__ == "__main__":
    main()
