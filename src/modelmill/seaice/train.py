"""Stage 3, train <model>: one of the three networks, keeping its best epoch on val.

    python -m modelmill.seaice.train classifier|forecaster|change|ceiling

DVC runs it once per model (`foreach` in dvc.yaml), each reading only its own
train.<model> params, so changing one model's params retrains only that model. The ceiling
stage runs it as `ceiling`: the change detector, with train.change's params, on the pairs' clean
renders (ceiling.py; for the user's own data it writes only a note that there is no ceiling). The work is
in training.py; this module checks the argument, the params and the inputs before torch loads,
so a mistake is told at once. `train.<model>.processes: N` starts N data-parallel ranks under
torchrun, each running this module again. Writes models/<model>.pt (a plain state_dict),
models/<model>.json (its card) and metrics/train_<model>.csv (the training curves).
"""

from __future__ import annotations

import sys

from ..core.cli import UserError, cli
from ..core.config import check_machine_request
from ..core.io import require
from . import ceiling
from .params import load_params
from .paths import CEILING, DAILY, MODELS, dataset_file, params_key


@cli
def main() -> None:
    names = (*MODELS, CEILING)
    if len(sys.argv) != 2 or sys.argv[1] not in names:
        got = " ".join(sys.argv[1:]) or "nothing"
        raise UserError(f"usage: python -m modelmill.seaice.train {{{','.join(names)}}} (got {got})")
    name, cfg = sys.argv[1], load_params().train
    mcfg = getattr(cfg, params_key(name))
    check_machine_request(mcfg.device, mcfg.precision, mcfg.processes)
    for path, stage in (
        (dataset_file(params_key(name), "train"), "split"),
        (dataset_file(params_key(name), "val"), "split"),
        (DAILY, "generate"),
    ):
        require(path, stage)
    if name == CEILING and not ceiling.available():
        ceiling.write_absent()
        return
    from ..core import distributed
    from .training import train_model

    if distributed.should_launch(mcfg.processes):
        distributed.launch("modelmill.seaice.train", mcfg.processes, [name])  # this module again, in each rank
    else:
        train_model(name, cfg)


if __name__ == "__main__":
    main()
