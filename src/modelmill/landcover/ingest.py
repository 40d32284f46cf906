"""Stage 1, ingest: get the raw dataset into data/raw/ as one archive file.

Sources (params `data.source`): the official EuroSAT download (md5-checked), a local
archive or an s3:// mirror (`data.archive`), or a generated synthetic set. Whatever the
source, the archive is written under a temporary name, checked, then renamed into place:
a failed or interrupted ingest leaves no partial archive behind.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..core.cli import UserError, cli
from ..core.io import atomic_output, file_digest
from ..core.progress import bar
from .data import EUROSAT_MD5, EUROSAT_URL
from .params import DataConfig, load_params
from .paths import RAW_ARCHIVE
from .synthetic import write_synthetic_archive

_CHUNK = 1 << 20


def ingest(cfg: DataConfig, dest: str | Path = RAW_ARCHIVE) -> str:
    """Write the archive chosen by `cfg` to `dest`; return its sha256."""
    with atomic_output(dest) as tmp:
        if cfg.source == "synthetic":
            write_synthetic_archive(tmp, cfg.synthetic_per_class, cfg.seed)
            origin = f"synthetic ({cfg.synthetic_per_class} per class, seed {cfg.seed})"
        elif cfg.source == "eurosat":
            download(EUROSAT_URL, tmp, md5=EUROSAT_MD5)
            origin = EUROSAT_URL
        else:
            origin = fetch_archive(cfg.archive, tmp)
        if not zipfile.is_zipfile(tmp):
            raise UserError(f"{origin} is not a zip archive (truncated or the wrong file?)")
        digest = file_digest(tmp)
        if cfg.sha256 and digest != cfg.sha256.lower():
            raise UserError(
                f"checksum mismatch for {origin}: expected sha256 {cfg.sha256}, got {digest}; the file was not kept"
            )
    print(f"ingest: {origin} -> {dest} (sha256 {digest})", file=sys.stderr)
    return digest


def fetch_archive(location: str, dest: Path) -> str:
    """Copy a local archive or an s3:// object to `dest`; return where it came from."""
    if not location:
        raise UserError("data.source is archive but data.archive is empty; set it to a local path or s3://bucket/key")
    if location.startswith("s3://"):
        from ..core import s3  # here: only an s3:// mirror needs boto3, which a bare GPU node may lack

        s3.download(location, dest)
        return location
    src = Path(location).expanduser()
    if src.is_dir():
        raise UserError(f"data.archive {location!r} is a folder (resolved to {src.resolve()}); name the zip file")
    if not src.is_file():
        raise UserError(f"data.archive {location!r} does not exist (resolved to {src.resolve()})")
    with open(src, "rb") as fin, open(dest, "wb") as fout, bar(src.stat().st_size, f"copy {src.name}") as progress:
        for chunk in iter(lambda: fin.read(_CHUNK), b""):
            fout.write(chunk)
            progress.update(len(chunk))
    return str(src)


def download(url: str, dest: Path, *, md5: str) -> None:
    """Stream `url` to `dest` with a progress bar and check its md5."""
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with bar(total, "download EuroSAT") as progress:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    progress.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"could not download {url}: {reason}. Offline? Use a local copy: set data.source: archive "
            "and data.archive: /path/to/EuroSAT.zip (or an s3:// mirror) in params.yaml"
        ) from None
    if digest.hexdigest() != md5:
        raise UserError(
            f"checksum mismatch for {url}: expected md5 {md5}, got {digest.hexdigest()}; the file was not kept"
        )


@cli
def main() -> None:
    ingest(load_params().data)


if __name__ == "__main__":
    main()
