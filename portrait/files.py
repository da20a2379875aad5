"""Files written whole or not at all: a reader never finds half of one, and a full disk or a
refused write leaves what was there before."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """`path` holds `text`, or (on any error) what it held before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


@contextlib.contextmanager
def staged_folder(out_dir: Path) -> Iterator[Path]:
    """A folder to write into beside `out_dir`; its files move into `out_dir` when the block ends
    without error, and it is removed in every case."""
    staging: Path | None = None
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".partial")
        )
        yield staging
        out_dir.mkdir(exist_ok=True)
        for item in sorted(staging.iterdir()):
            os.replace(item, out_dir / item.name)
    except OSError as err:
        if not err.filename or ".partial" in str(err.filename):
            err.filename, err.filename2 = (
                str(out_dir),
                None,
            )  # the folder asked for, not the staging one
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
