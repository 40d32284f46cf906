"""`make verify-download [PIPELINE=…] [VERSION=vN]`: fetch each published model of a line back and prove it is usable.

Downloads a version's model (default: the one latest.json names; VERSION=vN or an alias such
as production picks another), checks its sha256 against the version's metadata.json, then
lets the line load it the safe way (no code runs from the file) and predict a few samples.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .. import lines
from ..core import s3
from ..core.baseline import FILE_NAME as BASELINE_FILE
from ..core.baseline import read_baseline
from ..core.cli import UserError, cli
from ..core.io import file_digest
from ..lines import Line, Model
from .aliases import LATEST, NothingPublished, resolve_with_metadata
from .find import find_line
from .store import BASELINE, Registry, checked_files

SUCCESS = "Model loaded successfully. Verification complete."


def download_version(
    reg: Registry, dest: str | Path, version: int | str = LATEST, *, line: Line | None = None
) -> tuple[dict, Path]:
    """Download a version (vN, N, latest or an alias name) of the model, with its companions, into
    folder `dest` and check each sha256 against the version's metadata.json; returns (metadata,
    model path). Loading is the caller's."""
    line = line or lines.get(None)
    client = s3.client(reg.region)
    try:
        number, metadata = resolve_with_metadata(client, reg, str(version))
    except NothingPublished as exc:
        raise UserError(f"{exc}; run `{line.make('publish')}`") from None
    version = number
    Path(dest).mkdir(parents=True, exist_ok=True)
    local = Path(dest) / reg.model_object
    download_checked(reg, reg.model_key(version), local, metadata["sha256"])
    for name, entry in checked_files(metadata).items():
        download_checked(reg, reg.key(version, name), Path(dest) / name, entry)
    return metadata, local


def download_checked(reg: Registry, key: str, local: Path, expected: str) -> None:
    uri = reg.uri(key)
    s3.download(uri, local)
    digest = file_digest(local)
    if digest != expected:
        local.unlink()
        raise UserError(
            f"{uri}: sha256 {digest} does not match metadata {expected}; "
            "the object was altered or truncated, do not use it"
        )


def fetch_baseline(model: str, version: str = LATEST, pipeline: str | None = None) -> tuple[dict, Line]:
    """The baseline.json of `version` (vN, latest or an alias) of registry model `model`, downloaded
    and checked against its metadata.json, and the line that publishes the model."""
    line, found, reg = find_line(model, ".", pipeline)
    if found.unmonitored:
        raise UserError(f"{model} is not monitored: {found.unmonitored}")
    number, metadata = resolve_with_metadata(s3.client(reg.region), reg, version)
    entry = metadata.get(BASELINE)
    if not entry:
        raise UserError(
            f"v{number} of {model} was published without a baseline.json (before monitoring existed); "
            f"publish a new version to monitor it (`{line.make('publish')}`)"
        )
    with tempfile.TemporaryDirectory(prefix="modelmill-monitor-") as tmp:
        local = Path(tmp) / entry.get("file", BASELINE_FILE)
        download_checked(reg, reg.key(number, local.name), local, entry["sha256"])
        return read_baseline(local), line


def fetch(
    reg: Registry,
    version: int | str = LATEST,
    *,
    line: Line | None = None,
    model: Model | None = None,
    repo: str | Path = ".",
) -> dict:
    """Download, check and load a published version of `model` (default: the line's only
    one); returns its metadata."""
    line = line or lines.get(None)
    model = model or line.model()
    with tempfile.TemporaryDirectory() as tmp:
        metadata, local = download_version(reg, tmp, version, line=line)
        report = model.artifact().check(local, metadata, Path(repo) / line.folder)
    for text in report:
        print(text)
    print(
        f"verified {reg.uri(reg.model_key(int(metadata['version'].lstrip('v'))))} "
        f"({metadata['version']}, sha256 {metadata['sha256'][:12]})"
    )
    print(SUCCESS)
    return metadata


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    lines.add_argument(parser)
    parser.add_argument(
        "--version", metavar="vN|latest|ALIAS", help="the version to check, or an alias naming it (default: latest)"
    )
    parser.add_argument("--model", help="one of the line's models (a line that publishes several: which one)")
    args = parser.parse_args()
    targets = Registry.each_for_line(args.pipeline)
    names = ", ".join(reg.model_name for _, reg in targets)
    if args.model:
        targets = [(model, reg) for model, reg in targets if reg.model_name == args.model]
        if not targets:
            raise UserError(
                f"the {args.pipeline.name} line publishes no model named {args.model!r}; it publishes {names}"
            )
    version = args.version or LATEST
    if version.strip().lower() != LATEST and len(targets) > 1:  # vN or an alias names one model's version
        raise UserError(
            f"--version names one model's version, but the {args.pipeline.name} line publishes {len(targets)} "
            f"models ({names}); pick one with MODEL= (--model), or leave VERSION out to check each one's latest"
        )
    failed = []
    for model, reg in targets:  # every model is checked, whichever fails
        try:
            fetch(reg, version, line=args.pipeline, model=model)
        except UserError as exc:
            if len(targets) == 1:
                raise
            print(f"verify-download: {reg.model_name}: {exc}", file=sys.stderr)
            failed.append(reg.model_name)
    if failed:
        raise UserError(
            f"{len(failed)} of {len(targets)} models did not verify: {', '.join(failed)} (each said why above)"
        )


if __name__ == "__main__":
    main()
