"""Stage 4, ensemble: weigh the three models by their validation scores, choose the threshold and
refit the models on train and val together.

Each model scores data/split/val.csv. Weights are w_i ∝ exp(s_i / ensemble.temperature),
where s_i is the model's val log loss, negated (`ensemble.score: log_loss`, the default,
which rewards calibrated probabilities, as averaging them needs), or its val ROC AUC
(`roc_auc`). A small temperature gives nearly all the weight to the best model, a large
one weighs them equally. The decision threshold on the ensemble's probability is chosen on
val too (`ensemble.threshold`: `max_f1`, or `recall_floor`: the highest threshold that still
finds `ensemble.recall_floor` of the fires). With `ensemble.refit: true` (the default), once the
weights and the threshold are chosen, each model is fitted again with its own train.<model>
params on train and val together, as a grid search refits its best candidate on all its data: the
published models learn from 85% of the rows instead of 70%, and test, which none of them saw,
says what that buys. The val scores in ensemble.json stay those of the models fitted on train
alone (the refitted ones have seen val). Writes:

- models/fire_ensemble.skops: the one publishable file, the three fitted models in a plain
  scikit-learn ensemble (see models.py);
- models/fire_ensemble.onnx: the same ensemble's p(fire) for ONNX Runtime, what serving runs (see
  onnx_export.py), written only once its p(fire) agrees with scikit-learn's on every val row
  (within 1e-5, the same decision at the threshold): a model that disagrees stops the stage;
- models/ensemble.json: weights, threshold, feature order, val scores per model, the
  sha256 of data/samples.csv and the ONNX export's provenance.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..core.cli import cli
from ..core.io import file_digest, require, write_json
from .features import FEATURES, LABEL, read_split
from .models import check_features, combine, fit_members, load_model, predict_fire, save_model, with_threshold
from .onnx_export import export as export_onnx
from .params import MODEL_NAMES, EnsembleConfig, TrainConfig, load_params
from .paths import ENSEMBLE_CARD, ENSEMBLE_FILE, ONNX_FILE, SAMPLES, SPLIT_DIR, model_file
from .scoring import all_scores, choose_threshold, ensemble_weights, rounded


def make_ensemble(
    cfg: EnsembleConfig,
    train_cfg: TrainConfig,
    split_dir: str | Path = SPLIT_DIR,
    models_dir: str | Path | None = None,
    samples: str | Path = SAMPLES,
    out: str | Path = ENSEMBLE_FILE,
    card_out: str | Path = ENSEMBLE_CARD,
) -> dict:
    start = time.perf_counter()
    val = read_split(split_dir, "val")
    models, val_scores = {}, {}
    for name in MODEL_NAMES:
        path = model_file(name) if models_dir is None else Path(models_dir) / model_file(name).name
        models[name] = load_model(path, f"train@{name}")
        check_features(models[name], path, len(FEATURES))
        val_scores[name] = scores_at_chosen_threshold(cfg, val.y, predict_fire(models[name], val.x))
    weights = ensemble_weights(val_scores, cfg.score, cfg.temperature)
    voting = combine(models, weights, val.x, val.y)
    p_val = predict_fire(voting, val.x)
    val_scores["ensemble"] = scores_at_chosen_threshold(cfg, val.y, p_val)
    threshold = val_scores["ensemble"]["threshold"]
    refit_rows = 0
    if cfg.refit:
        train = read_split(split_dir, "train")
        refit_rows = len(train) + len(val)
        models = fit_members(train_cfg, np.concatenate([train.x, val.x]), np.concatenate([train.y, val.y]))
        voting = combine(models, weights, val.x, val.y)
        p_val = predict_fire(voting, val.x)
    ensemble = with_threshold(voting, threshold, val.x, val.y)
    # The export first: a model ONNX Runtime disagrees on leaves no output at all.
    onnx = export_onnx(ensemble, val.x, p_val, Path(out).with_name(ONNX_FILE.name))
    save_model(ensemble, out)
    card = {
        "model_file": Path(out).name,
        "features": list(FEATURES),
        "label": LABEL,
        "members": list(MODEL_NAMES),
        "weights": weights,
        "weighting": {
            "score": cfg.score,
            "temperature": cfg.temperature,
            "rule": "w_i = exp(s_i / T) / sum_j exp(s_j / T), s = "
            + ("val ROC AUC" if cfg.score == "roc_auc" else "-(val log loss)"),
        },
        "threshold": threshold,
        "threshold_rule": cfg.threshold if cfg.threshold == "max_f1" else f"recall_floor {cfg.recall_floor:g}",
        "val_rows": len(val),
        "val": val_scores,  # the models fitted on train alone, which chose the weights and the threshold
        "refit_rows": refit_rows,  # 0: the published models are those; else fitted on train + val
        "data_sha256": file_digest(require(samples, "generate")),
        "onnx": onnx,
    }
    write_json(card_out, card)
    summary = ", ".join(f"{name} {weights[name]:.3f}" for name in MODEL_NAMES)
    refitted = f"; refitted on {refit_rows} train + val rows" if refit_rows else ""
    print(
        f"ensemble: weights {summary}; threshold {threshold:.4f} ({card['threshold_rule']}); val ROC AUC "
        f"{val_scores['ensemble']['roc_auc']:.4f}, F1 {val_scores['ensemble']['f1']:.4f}{refitted} -> {out}, "
        f"{onnx['file']} (val p(fire) within {onnx['val_max_abs_diff']:.1g} of scikit-learn's) "
        f"in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    return card


def scores_at_chosen_threshold(cfg: EnsembleConfig, y, p) -> dict[str, float]:
    threshold = rounded(choose_threshold(y, p, cfg.threshold, cfg.recall_floor))
    return {"threshold": threshold, **all_scores(y, p, threshold)}


@cli
def main() -> None:
    params = load_params()
    make_ensemble(params.ensemble, params.train)


if __name__ == "__main__":
    main()
