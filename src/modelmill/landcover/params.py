"""The EuroSAT line's params.yaml (the root one): its sections, their rules and its loader."""

from __future__ import annotations

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


@section
class SplitFractions:
    """The train/val/test fractions of each class (seeded by data.seed), each above 0: train picks
    its best epoch on val, and evaluate reads test."""

    train: float = span(0.0, 1.0, open_low=True)
    val: float = span(0.0, 1.0, open_low=True)
    test: float = span(0.0, 1.0, open_low=True)


@section
class DataConfig:
    source: str = choice("eurosat", "archive", "synthetic")
    archive: str
    sha256: str
    synthetic_per_class: int = span(1, 100_000)
    split: SplitFractions
    seed: int
    on_corrupt: str = choice("fail", "drop")


@section
class TrainConfig:
    arch: str = choice("resnet18", "resnet34")
    pretrained: str = choice("imagenet", "none")
    freeze_backbone: bool
    whiten_stem: bool
    input_size: int = span(32, 512)
    epochs: int = span(1, 10_000)
    progressive_epochs: int = span(0, 10_000)
    progressive_min_size: int = span(16, 512)
    progressive_step: int = span(1, 512)
    batch_size: int = span(1, 65_536)
    optimizer: str = choice("sgd", "adamw")
    lr: float = span(0.0, 10.0, open_low=True)
    momentum: float = span(0.0, 1.0)
    weight_decay: float = span(0.0, 1.0)
    schedule: str = choice("onecycle", "cosine", "constant")
    label_smoothing: float = span(0.0, 0.99)
    ema: float = span(0.0, 0.9999)
    augment: bool
    translate: int = span(0, 16)
    device: str = run_device()
    precision: str = run_precision()
    channels_last: bool
    threads: int = run_threads()
    processes: int = run_processes()
    checkpoint_uri: str = run_checkpoint_uri()
    peer_timeout: int = run_peer_timeout()
    sync_batchnorm: bool
    seed: int


@section
class EvaluateConfig:
    batch_size: int = span(1, 65_536)
    tta: bool


@section
class Params:
    data: DataConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    publish: PublishConfig
    monitor: DriftParams  # make monitor's drift thresholds (monitor/drift.py)


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    return load(path, Params, (_check_split, _check_progressive, _check_whitening))


def _check_split(params: Params) -> list[str]:
    return check_fractions("data.split", params.data.split)


def _check_progressive(params: Params) -> list[str]:
    train, problems = params.train, []
    if train.progressive_epochs and train.progressive_epochs >= train.epochs:
        problems.append(
            f"train.progressive_epochs ({train.progressive_epochs}) must be below train.epochs "
            f"({train.epochs}), so that the last epochs train at train.input_size"
        )
    if train.progressive_epochs and train.progressive_min_size > train.input_size:
        problems.append(
            f"train.progressive_min_size ({train.progressive_min_size}) must not exceed "
            f"train.input_size ({train.input_size})"
        )
    sizes = len(progressive_sizes(train))
    if train.progressive_epochs < sizes:
        problems.append(
            f"train.progressive_epochs ({train.progressive_epochs}) leaves some of the {sizes} progressive sizes "
            f"({train.progressive_min_size} px up to train.input_size in steps of {train.progressive_step}) "
            f"without an epoch: raise it to {sizes} or more, or take a larger train.progressive_step"
        )
    return problems


def progressive_sizes(train: TrainConfig) -> list[int]:
    """The sizes that share the first progressive_epochs epochs, in order, before input_size (none when off)."""
    if not train.progressive_epochs:
        return []
    return list(range(train.progressive_min_size, train.input_size, train.progressive_step))


def _check_whitening(params: Params) -> list[str]:
    if params.train.whiten_stem and params.train.pretrained != "none":
        return ["train.whiten_stem starts the first convolution from the data, so it needs train.pretrained: none"]
    return []


@cli
def main() -> None:
    """The `params` stage: the whole params.yaml checked and what train asks of this machine,
    before any other stage runs."""
    params = load_params()
    train = params.train
    check_machine_request(train.device, train.precision, train.processes, train.sync_batchnorm)
    mark_checked()


if __name__ == "__main__":
    main()
