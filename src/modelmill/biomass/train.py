"""Stage 4, train: a ResNet regressor on the prepared photos, keeping the best epoch by val RMSE.

    python -m modelmill.biomass.train        # reads params.yaml's train section

The work is in training.py; this module checks the params and the inputs before torch loads,
so a mistake is told at once. `train.processes: N` starts N data-parallel ranks under torchrun,
each running this module again; each epoch ends with a checkpoint, so a killed run resumes.
Writes models/biomass_model.pt, models/card.json and metrics/train_history.csv.
"""

from __future__ import annotations

from ..core.cli import cli
from ..core.config import check_machine_request
from ..core.io import require
from .params import load_params
from .paths import DATA_REPORT, PREPARED_DIR


@cli
def main() -> None:
    cfg = load_params().train
    check_machine_request(cfg.device, cfg.precision, cfg.processes)
    for path in (PREPARED_DIR / "train.npz", PREPARED_DIR / "val.npz", DATA_REPORT):
        require(path, "verify")
    from ..core import distributed
    from .training import train

    if distributed.should_launch(cfg.processes):
        distributed.launch("modelmill.biomass.train", cfg.processes)  # this module again, in each rank
    else:
        train(cfg)


if __name__ == "__main__":
    main()
