"""The sea-ice line's params.yaml (pipelines/seaice/params.yaml): its sections, their rules and its loader."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ..core.cli import cli
from ..core.config import (
    PublishConfig,
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
HISTORY_DAYS = 30  # the forecaster's input: 30 days ...
LEAD_DAYS = 7  # ... and the 7 it forecasts


@section
class RegionConfig:
    """With source: nsidc, the window of the product's grid the line trains on, in the grid's
    rows and columns as stored (north: 448 rows x 304 columns of 25 km)."""

    row: int = span(0, 10_000)
    col: int = span(0, 10_000)
    height: int = span(16, 512)  # multiples of 4
    width: int = span(16, 512)


@section
class DataConfig:
    source: str = choice("generate", "archive", "nsidc")
    archive: str  # with source: archive or nsidc: the folder (docs/lines/seaice.md)
    region: RegionConfig
    max_gap_days: int = span(0, 30)  # with source: nsidc: missing days up to this many in a row are interpolated
    grid: int = span(16, 512)  # with source: generate: cells per side
    days: int = span(HISTORY_DAYS + LEAD_DAYS, 20_000)
    start: str  # first day, YYYY-MM-DD
    drift_speed: float = span(0.0, 2.0)  # cells per day, the drift field's typical speed
    diffusion: float = span(0.0, 0.24)  # per day; above 0.25 the explicit scheme is unstable
    seed: int

    def grid_shape(self) -> tuple[int, int] | None:
        """(rows, columns) of the grid generate writes and the models train on; None for an
        archive, whose grid is known once generate has read it."""
        if self.source == "nsidc":
            return self.region.height, self.region.width
        return (self.grid, self.grid) if self.source == "generate" else None


@section
class SeaIceSplitConfig:
    """How the days are cut in time, and the samples each model is cut into: tiles, windows, pairs."""

    train: float = span(0.0, 1.0, open_low=True)
    val: float = span(0.0, 1.0, open_low=True)
    test: float = span(0.0, 1.0, open_low=True)
    blocks: int = span(1, 100)  # periods, each cut train | val | test in time order
    window_stride: int = span(1, 365)  # days between the starts of consecutive 30+7 windows
    tile_cells: int = span(2, 64)  # classifier tile side, in grid cells
    tile_scale: int = span(1, 16)  # image pixels per grid cell
    tiles_per_class: int = span(1, 100_000)  # per split, at most (fewer where a class is rare)
    thick_m: float = span(0.0, 10.0, open_low=True)  # thin ice below, thick ice at or above (metres)
    open_water: float = span(0.0, 1.0, open_low=True)  # concentration below which a cell is open water
    pair_lag_min: int = span(1, 365)  # days between the two dates of a change pair: from ...
    pair_lag_max: int = span(1, 365)  # ... to this, in turn
    change: float = span(0.0, 1.0, open_low=True)  # |concentration change| that counts as change
    pair_stride: int = span(1, 365)  # days between the first dates of consecutive pairs
    seed: int


@section
class ClassifierConfig:
    arch: str = choice("resnet18", "resnet34", "resnet50")
    epochs: int = span(1, 1000)
    batch_size: int = span(1, 4096)
    lr: float = span(0.0, 10.0, open_low=True)
    weight_decay: float = span(0.0, 1.0)
    augment: bool  # flips, 90-degree rotations, brightness
    brightness: float = span(0.0, 1.0)  # +- this fraction, with augment
    class_weights: bool  # inverse frequency in the training split
    threads: int = run_threads()
    processes: int = run_processes()
    checkpoint_uri: str = run_checkpoint_uri()
    peer_timeout: int = run_peer_timeout()
    device: str = run_device()
    precision: str = run_precision()
    seed: int


@section
class ForecasterConfig:
    hidden: int = span(1, 512)  # ConvLSTM channels
    layers: int = span(1, 8)
    epochs: int = span(1, 1000)
    batch_size: int = span(1, 4096)
    lr: float = span(0.0, 10.0, open_low=True)
    weight_decay: float = span(0.0, 1.0)
    threads: int = run_threads()
    processes: int = run_processes()
    checkpoint_uri: str = run_checkpoint_uri()
    peer_timeout: int = run_peer_timeout()
    device: str = run_device()
    precision: str = run_precision()
    seed: int


@section
class ChangeConfig:
    width: int = span(1, 512)  # the encoder's first channel count
    epochs: int = span(1, 1000)
    batch_size: int = span(1, 4096)
    lr: float = span(0.0, 10.0, open_low=True)
    weight_decay: float = span(0.0, 1.0)
    dice_weight: float = span(0.0, 10.0)  # loss = BCE + dice_weight * Dice
    augment: bool  # the same flip/rotation for both dates and the map
    refit: bool  # train on train + val and keep the last epoch (train@change and the ceiling alike)
    threads: int = run_threads()
    processes: int = run_processes()
    checkpoint_uri: str = run_checkpoint_uri()
    peer_timeout: int = run_peer_timeout()
    device: str = run_device()
    precision: str = run_precision()
    seed: int


@section
class TrainConfig:
    classifier: ClassifierConfig
    forecaster: ForecasterConfig
    change: ChangeConfig


@section
class EvaluateConfig:
    panels: int = span(0, 20)  # forecast and change-map figures drawn
    climatology_window: int = span(0, 60)  # +- days of year pooled into climatology's mean
    threads: int = run_threads()


@section
class SeaIcePublishConfig:
    bucket: str
    region: str
    prefix: str
    kms_key_id: str
    classifier: str  # each model's own name in the registry
    forecaster: str
    change: str

    def for_model(self, name: str) -> PublishConfig:
        return PublishConfig(self.bucket, self.region, self.prefix, getattr(self, name), self.kms_key_id)


@section
class Params:
    data: DataConfig
    split: SeaIceSplitConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    publish: SeaIcePublishConfig
    monitor: DriftParams  # make monitor's drift thresholds (monitor/drift.py)


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    return load(path, Params, (_check_split, _check_data, _check_publish))


def _check_split(params: Params) -> list[str]:
    problems = check_fractions("split", params.split, exact=True)
    if params.split.pair_lag_max < params.split.pair_lag_min:
        problems.append(
            f"split.pair_lag_max ({params.split.pair_lag_max}) is below split.pair_lag_min "
            f"({params.split.pair_lag_min})"
        )
    return problems


def _check_data(params: Params) -> list[str]:
    problems = []
    try:
        date.fromisoformat(params.data.start)
    except ValueError:
        problems.append(f"data.start must be a date YYYY-MM-DD, got {params.data.start!r}")
    if params.data.source in ("archive", "nsidc") and not params.data.archive.strip():
        problems.append(
            f"data.source is {params.data.source} but data.archive is empty; set it to the folder of daily "
            f"{'.npz' if params.data.source == 'archive' else 'NetCDF'} files (relative to pipelines/seaice)"
        )
    region = params.data.region
    for name in ("height", "width"):
        if getattr(region, name) % 4:
            problems.append(f"data.region.{name} must be a multiple of 4, got {getattr(region, name)}")
    # a classifier tile must fit the grid; an archive's grid is known at split only
    shape = params.data.grid_shape()
    if shape is not None and params.split.tile_cells > min(shape):
        key = "data.region" if params.data.source == "nsidc" else "data.grid"
        problems.append(
            f"split.tile_cells {params.split.tile_cells} is larger than the grid ({key}: {min(shape)} cells a side)"
        )
    return problems


def _check_publish(params: Params) -> list[str]:
    names = [params.publish.classifier, params.publish.forecaster, params.publish.change]
    if len(set(names)) != 3 or not all(n.strip() for n in names):
        return [f"publish.classifier, publish.forecaster and publish.change must be three distinct names, got {names}"]
    return []


@cli
def main() -> None:
    """The `params` stage: the whole params.yaml checked and what each model's training asks of this machine,
    before any other stage runs."""
    params = load_params()
    for model in (params.train.classifier, params.train.forecaster, params.train.change):
        check_machine_request(model.device, model.precision, model.processes)
    mark_checked()


if __name__ == "__main__":
    main()
