"""`make verify-download`: fetch a published version back and prove it is usable.

Downloads the model of a version (default: the one latest.json names), checks its
sha256 against the version's metadata.json, loads it with weights_only=True into a
fresh network and classifies a few test images. Not the DVC `verify` stage.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from . import s3
from .config import load_params
from .errors import UserError, cli
from .fsutil import file_digest
from .model import Preprocess, build_model, load_weights, predict
from .registry import METADATA_OBJECT, MODEL_OBJECT, Registry, latest_version, read_json
from .synthetic import synthetic_image
from .verify import PREPARED_DIR

SUCCESS = "Model loaded successfully. Verification complete."


def verify_download(reg: Registry, version: int | None = None, prepared: str | Path = PREPARED_DIR,
                    samples: int = 8) -> dict:
    client = s3.client(reg.region)
    if version is None:
        version = latest_version(client, reg)
        if version is None:
            raise UserError(f"nothing published yet: {reg.uri(reg.latest_key)} does not exist; run `make publish`")
    metadata = read_json(client, reg, reg.key(version, METADATA_OBJECT))
    if metadata is None:
        raise UserError(f"v{version} of {reg.model_name} has no {METADATA_OBJECT} (incomplete or never published)")

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / MODEL_OBJECT
        s3.download(reg.uri(reg.key(version, MODEL_OBJECT)), local)
        digest = file_digest(local)
        if digest != metadata["sha256"]:
            raise UserError(
                f"{reg.uri(reg.key(version, MODEL_OBJECT))}: sha256 {digest} does not match metadata "
                f"{metadata['sha256']}; the object was altered or truncated, do not use it"
            )
        state = load_weights(local)
    model = build_model(metadata["architecture"], metadata["num_classes"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise UserError(f"v{version} does not load into a {metadata['architecture']}: {str(exc).splitlines()[0]}") from None

    images, labels = _sample_images(Path(prepared), samples, metadata["class_names"])
    norm = metadata["normalization"]
    logits = predict(model, images, Preprocess(norm["mean"], norm["std"], metadata["input_size"], False), samples, "fp32")
    names = metadata["class_names"]
    for i, p in enumerate(logits.argmax(1).tolist()):
        truth = f" (label {names[labels[i]]})" if labels is not None else ""
        print(f"  image {i}: {names[p]}{truth}")
    print(f"verified {reg.uri(reg.key(version, MODEL_OBJECT))} (v{version}, sha256 {digest[:12]})")
    print(SUCCESS)
    return metadata


def _sample_images(prepared: Path, n: int, classes: list[str]) -> tuple[torch.Tensor, list[int] | None]:
    """A few test-split images when the data is here, else generated tiles (shape check only)."""
    test = prepared / "test.npz"
    if test.exists():
        with np.load(test) as data:
            step = max(1, len(data["y"]) // n)
            return torch.from_numpy(data["x"][::step][:n]), data["y"][::step][:n].tolist()
    rng = np.random.default_rng(0)
    return torch.from_numpy(np.stack([synthetic_image(i % len(classes), rng) for i in range(n)])), None


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", type=lambda v: int(v.lstrip("v")), help="version to check (default: latest)")
    args = parser.parse_args()
    verify_download(Registry.from_config(load_params().publish), args.version)


if __name__ == "__main__":
    main()
