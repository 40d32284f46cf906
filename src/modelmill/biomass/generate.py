"""Stage 1, generate: the data in the project's layout under data/raw/ (a metadata sheet + images/).

`data.source: synthetic` writes the seeded stand-in (synthetic.py), with the canopy share each
photo was drawn with in generator_truth.json; `archive` copies your folder or unpacks your zip
there as it is. Either way the next stages read data/raw/ alone.
"""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

from ..core.cli import UserError, cli
from ..core.io import atomic_output
from .params import DataConfig, load_params
from .paths import RAW_DIR
from .sheet import TRUTH_NAME, find_sheet
from .synthetic import write_raw


def generate(cfg: DataConfig, dest: str | Path = RAW_DIR) -> Path:
    """Fill `dest` (replaced as a whole, or left as it was on a failure); returns the sheet's path."""
    dest = Path(dest)
    with atomic_output(dest, directory=True) as tmp:
        if cfg.source == "synthetic":
            write_raw(tmp, cfg)
        else:
            copy_archive(Path(cfg.archive), tmp)
            if (tmp / TRUTH_NAME).exists():  # verify would take it for the generator's and report a floor
                raise UserError(
                    f"data.archive {cfg.archive} holds {TRUTH_NAME}, a name the line keeps for its own "
                    "generator's truth; rename or remove it"
                )
        sheet = find_sheet(tmp, shown_as=None if cfg.source == "synthetic" else f"data.archive {cfg.archive}")
    return dest / sheet.relative_to(tmp)


def copy_archive(src: Path, dest: Path) -> None:
    if src.is_dir():
        try:
            shutil.copytree(src, dest, dirs_exist_ok=True)
        except shutil.Error as exc:  # one entry per file that failed: name the first
            first, _, why = exc.args[0][0]
            raise UserError(f"data.archive {src}: {first} cannot be copied ({why})") from None
    elif zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as archive:
            for member in archive.infolist():
                try:
                    archive.extract(member, dest)  # drops absolute paths and ".." from member names
                except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
                    # RuntimeError: an encrypted member; BadZipFile: a damaged one (bad CRC)
                    raise UserError(f"data.archive {src}: member {member.filename} cannot be read ({exc})") from None
    elif src.exists():
        raise UserError(f"data.archive {src} is neither a folder nor a zip file")
    else:
        raise UserError(f"data.archive {src} does not exist (resolved to {src.resolve()})")


@cli
def main() -> None:
    cfg = load_params().data
    sheet = generate(cfg)
    print(f"generate: {cfg.source} data -> {sheet} + images", file=sys.stderr)


if __name__ == "__main__":
    main()
