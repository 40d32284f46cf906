"""The model card (models/model.json): one schema, written by train and read by evaluate,
the registry and the bench. It holds what it takes to use the weights file."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.io import JsonRecord


@dataclass(frozen=True)
class ModelCard(JsonRecord):
    arch: str
    classes: list[str]
    input_size: int
    mean: list[float]
    std: list[float]
    best_epoch: int
    val_accuracy: float
    val_loss: float
    train_params: dict
    runtime: dict  # what ran: device, device_name, precision (resolved) and why, threads, processes
    trained_at_utc: str

    @property
    def channels_last(self) -> bool:
        return self.train_params["channels_last"]

    @property
    def precision(self) -> str:
        """The precision training ran in (`auto` resolved)."""
        return self.runtime["precision"]
