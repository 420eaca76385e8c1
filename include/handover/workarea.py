"""The run's work area: a folder private to one run that holds its plaintext chunks.

Created 0700 (files 0600) under the work root; removed by the DAG's teardown task whether the run
succeeded or failed. Nothing else ever holds plaintext customer data outside the source export.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def open_area(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def subdir(area: Path, *parts: str) -> Path:
    path = Path(area, *parts)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write a file only the owner can read, atomically (a killed task leaves no half file)."""
    from handover import private_files

    private_files.write(path, data, replace=True)


def remove_area(path: Path) -> bool:
    path = Path(path)
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True


def write_table(table, path: Path) -> None:
    """Write an Arrow table as an Arrow IPC file (zstd-compressed buffers), private and atomic. The work
    area's files live for one run: IPC writes ~3x and reads ~4x faster than Parquet here."""
    from pyarrow import feather

    from handover import private_files

    with private_files.written(path, replace=True) as fh:  # a full disk: a PrivateFileError saying so
        feather.write_feather(table, fh, compression="zstd")


def read_table(path: Path, columns: list[str] | None = None):
    """A work-area file as an Arrow table: all its columns, or only ``columns`` (in that order)."""
    from pyarrow import feather

    return feather.read_table(path, columns=columns, memory_map=False)
