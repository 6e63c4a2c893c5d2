"""Files written whole or not at all: every stage's saves (shards, checkpoints, model bundles, tables); where
distser keeps its cache; the database file a tracking URI names.

Imports nothing of distser: any stage may use it without breaking the one-way flow of data.

Example:
    >>> path = getfixture("tmp_path") / "out" / "table.csv"
    >>> with atomic_write(path, "w") as stream:
    ...     _ = stream.write("a,b\\n")
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('a,b\\n', ['table.csv'])
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "cache_folder", "sqlite_path"]

#: Where distser keeps what it can rebuild (the embedded synthetic store of a remote search, MLflow's empty
#: database): ``$DISTSER_CACHE``, else ``$XDG_CACHE_HOME/distser``, else ``~/.cache/distser``.
CACHE_VARIABLE = "DISTSER_CACHE"


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **options: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it is synced and renamed to ``path``.

    A reader never sees a half-written file, and a failure (or a kill) leaves ``path`` as it was: the
    temporary file is removed on an exception (a kill leaves a hidden ``.<name>.<pid>-<random>.tmp``).
    The temporary file is created like any other (not with ``mkstemp``'s owner-only permissions), so the
    result follows the umask: a shared store stays readable to the group. ``mode`` is ``"wb"`` or ``"w"``;
    ``options`` go to :func:`open` (e.g. ``newline=""``). The folder is created if needed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes a new file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(temporary, mode.replace("w", "x"), **options) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())  # on disk before the rename makes it visible
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def cache_folder() -> Path:
    """The folder of :data:`CACHE_VARIABLE` (not created here).

    Example:
        >>> monkeypatch = getfixture("monkeypatch")
        >>> monkeypatch.setenv("DISTSER_CACHE", "/tmp/c"); cache_folder()
        PosixPath('/tmp/c')
        >>> monkeypatch.delenv("DISTSER_CACHE"); monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/x"); cache_folder()
        PosixPath('/tmp/x/distser')
    """
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "distser"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for any other store).

    Example:
        >>> sqlite_path("sqlite:////tmp/runs/mlflow.db"), sqlite_path("http://127.0.0.1:5000")
        (PosixPath('/tmp/runs/mlflow.db'), None)
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
