"""Training throughput of the real training step (augmentation included), in images/s.

Imported by bench.py for one process; run under torchrun it measures data-parallel ranks:

    python -m torch.distributed.run --nproc-per-node 2 benchmarks/throughput.py PREPARED_DIR OUT.json
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402

from modelmill.core import distributed  # noqa: E402
from modelmill.core.averaging import WeightAverage  # noqa: E402
from modelmill.core.hardware import place  # noqa: E402
from modelmill.core.torchkit import Run, memory_format, set_threads, train_one_epoch  # noqa: E402
from modelmill.core.vision import Preprocess  # noqa: E402
from modelmill.landcover.data import load_tensors  # noqa: E402
from modelmill.landcover.model import build_model  # noqa: E402
from modelmill.landcover.params import load_params  # noqa: E402
from modelmill.landcover.training import make_optimizer, make_schedule  # noqa: E402
from modelmill.landcover.transforms import augment  # noqa: E402


def train_throughput(x: torch.Tensor, y: torch.Tensor, overrides: dict, steps: int, small_maps: bool = True) -> float:
    """Global images/s over `steps` batches after two warm-up batches, with params.yaml's train
    section plus `overrides`, on the device and precision they resolve to."""
    cfg = dataclasses.replace(load_params(REPO / "params.yaml").train, **overrides)
    placement = place(cfg.device, cfg.precision)
    group = distributed.join(placement.device)
    set_threads(cfg.threads)
    torch.manual_seed(0)
    model = build_model(cfg.arch, 10, small_maps=small_maps).to(
        placement.device, memory_format=memory_format(cfg.channels_last)
    )
    x, y = x.to(placement.device), y.to(placement.device)
    pre = Preprocess(
        [0.35, 0.38, 0.41],
        [0.2, 0.14, 0.12],
        input_size=cfg.input_size,
        channels_last=cfg.channels_last,
        device=placement.device,
    )
    optimizer = make_optimizer(cfg, model)
    run = Run(
        distributed.wrap(model, group, placement.device, False),
        optimizer,
        make_schedule(cfg, optimizer, 1000),
        torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        torch.Generator().manual_seed(0),
        placement.precision,
        group,
        WeightAverage(model, cfg.ema) if cfg.ema else None,  # its per-step update is part of the step
    )
    kwargs = {
        "batch_size": cfg.batch_size,
        "preprocess": pre,
        "augment": (lambda b, labels, g: (augment(b, g), labels)) if cfg.augment else None,
    }
    n_warm = 2 * cfg.batch_size
    train_one_epoch(run, x[:n_warm], y[:n_warm], desc="warm-up", **kwargs)
    n = steps * cfg.batch_size
    if placement.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_one_epoch(run, x[:n], y[:n], desc="measure", **kwargs)  # ends with a read-back: the GPU is done
    return n / (time.perf_counter() - start)


def main() -> None:
    prepared, out, steps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    x, y = load_tensors(prepared, "train")
    rate = train_throughput(x, y, {}, steps)
    if not distributed.under_torchrun() or torch.distributed.get_rank() == 0:
        out.write_text(json.dumps({"images_per_s": rate}))
    distributed.leave()


if __name__ == "__main__":
    main()
