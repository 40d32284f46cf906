"""The smallest params that still run each line whole, as dotted-key overrides of its params.yaml.

`bench.py --quick` runs every line at these sizes, and the tests' pipeline fixtures use them
too: one definition, so the benchmark's smoke run and the tests exercise the same sizes.
"""

# 40 boosting rounds at the full line's learning rate (0.05) and 100-row leaves fit 2,100 training
# rows too loosely: the ensemble would then lean on the forest and the logistic model, unlike at
# full size (boosting ~0.97); rate 0.1 and 20-row leaves keep boosting the member it leans on.
FIRE = {
    "data.n_samples": 3000,
    "train.forest.n_estimators": 20,
    "train.boosting.n_estimators": 40,
    "train.boosting.learning_rate": 0.1,
    "train.boosting.min_samples_leaf": 20,
}

SEAICE = {  # a 32x32 grid over two years, a few tiles, one short epoch each
    "data.grid": 32,
    "data.days": 750,
    "split.window_stride": 8,
    "split.tiles_per_class": 20,
    "split.pair_stride": 4,
    "train.classifier.epochs": 1,
    "train.classifier.batch_size": 16,
    "train.forecaster.hidden": 4,
    "train.forecaster.epochs": 1,
    "train.forecaster.batch_size": 8,
    "train.change.width": 4,
    "train.change.epochs": 1,
    "train.change.batch_size": 16,
    "evaluate.panels": 1,
}

BIOMASS = {
    "data.rows": 72,
    "data.plants": 8,
    "data.max_snapshots": 14,
    "data.image_size": 24,
    "verify.image_size": 16,
    "eda.pixel_images": 10,
    "eda.sample_images": 4,
    "train.epochs": 2,
    "train.batch_size": 16,
    "train.input_size": 16,
    "train.hidden": 16,
}
