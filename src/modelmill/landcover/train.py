"""Stage 3, train: a ResNet on the prepared arrays, keeping the best epoch by val accuracy.

    python -m modelmill.landcover.train      # reads params.yaml's train section

The work is in training.py. This module reads the params and checks the stage's input before
torch and torchvision load (~7 s on a small CPU), so a bad value or a missing input is told
at once. `train.processes: N` starts N data-parallel ranks under torchrun, each running this
module again.

Writes models/satellite_model.pt (a plain state_dict), models/model.json (what is
needed to use it: architecture, classes, input size, normalization) and
metrics/train_history.csv (per-epoch curves for `dvc plots`).
"""

from __future__ import annotations

from ..core.cli import cli
from ..core.config import check_machine_request
from ..core.io import require
from .params import load_params
from .paths import PREPARED_DIR


@cli
def main() -> None:
    cfg = load_params().train
    check_machine_request(cfg.device, cfg.precision, cfg.processes, cfg.sync_batchnorm)
    require(PREPARED_DIR / "train.npz", "verify")
    from ..core import distributed
    from .training import check_request, train

    if distributed.should_launch(cfg.processes):
        check_request(cfg)
        distributed.launch("modelmill.landcover.train", cfg.processes)  # this module again, in each rank
    else:
        train(cfg)


if __name__ == "__main__":
    main()
