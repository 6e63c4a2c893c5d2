"""One running search per name in a storage: a lock object ``<storage>/<name>.lock``, created atomically.

The lock names its holder (host, process id and the process's start time, the command), so a second
start of the same search fails at once with one line naming it. A lock left by a local process that is
gone (a SIGKILLed driver, a machine that rebooted) is taken over, with a line saying so; a lock of
another host cannot be judged from here and is only named.

Atomic creation: ``O_CREAT | O_EXCL`` on a local disk; on S3 a conditional ``PutObject``
(``If-None-Match: *``), which AWS S3 and S3-compatible stores honour. Other URI schemes fall back to
check-then-write through pyarrow (not atomic; said in the lock file).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from distser.config import ConfigError

from ._storage import Storage

LOCK_SUFFIX = ".lock"


def _start_time(pid: int) -> str | None:
    """A process's start time (clock ticks since boot, Linux ``/proc``): tells a reused pid from its holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name in parentheses


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return started is None or _start_time(pid) in (None, started)


@dataclass
class SearchLock:
    """The lock of search ``name`` in ``storage``; :meth:`acquire` it, :meth:`release` it when done.

    Example:
        >>> lock = SearchLock(Storage.of("/tmp/runs"), "s")
        >>> lock.acquire(); lock.release()  # doctest: +SKIP
    """

    storage: Storage
    name: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    acquired: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}{LOCK_SUFFIX}"

    @property
    def where(self) -> str:
        return self.storage.uri_of(self.key)

    def holder(self, command: str = "") -> dict[str, Any]:
        pid = os.getpid()
        return {"host": socket.gethostname(), "pid": pid, "started": _start_time(pid), "token": self.token,
                "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command}

    def acquire(self, command: str = "", say=None) -> None:
        """Take the lock, or raise ConfigError naming its holder; a dead local holder's lock is taken over."""
        text = json.dumps(self.holder(command))
        if self._create(text):
            self.acquired = True
            return
        held = self._read()
        if held is not None and self._stale(held):
            # Only one of several starts may take over: the takeover itself is a lock.
            takeover = SearchLock(self.storage, f"{self.name}{LOCK_SUFFIX}.takeover", self.token)
            if takeover._create(text):
                try:
                    again = self._read()
                    if again is not None and again.get("token") == held.get("token"):
                        self._delete()
                        if self._create(text):
                            self.acquired = True
                            if say is not None:
                                say(f"took over the lock {self.where} of search {self.name!r}: its holder, process "
                                    f"{held.get('pid')} on {held.get('host')} (since {held.get('since')}), is gone")
                            return
                finally:
                    takeover._delete()
            held = self._read() or held
        raise ConfigError(self._refusal(held))

    def release(self) -> None:
        """Remove the lock if it is still this process's."""
        if not self.acquired:
            return
        held = self._read()
        if held is not None and held.get("token") == self.token:
            self._delete()
        self.acquired = False

    def _refusal(self, held: dict[str, Any] | None) -> str:
        if held is None:
            return f"search {self.name!r} is locked by another start ({self.where})"
        here = held.get("host") == socket.gethostname()
        gone = "" if here else f"; if that process is gone, delete {self.where}"
        return (f"search {self.name!r} is already running: process {held.get('pid')} on {held.get('host')} since "
                f"{held.get('since')} holds {self.where}{gone}")

    def _stale(self, held: dict[str, Any]) -> bool:
        if held.get("host") != socket.gethostname() or not isinstance(held.get("pid"), int):
            return False  # another machine's process: cannot tell from here
        return not _alive(held["pid"], held.get("started"))

    # -- the lock object ------------------------------------------------------------------------
    def _create(self, text: str) -> bool:
        """Create the lock object with ``text`` unless it exists; True if this call created it."""
        storage = self.storage
        storage.filesystem.create_dir(storage.path, recursive=True)
        if storage.is_local:
            path = storage.fs_path(self.key)
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "w") as stream:
                stream.write(text)
            return True
        if storage.uri.startswith("s3://"):
            return self._create_s3(text)
        if storage.exists(self.key):  # not atomic: no conditional write through pyarrow
            return False
        storage.write_text(text, self.key)
        return True

    def _create_s3(self, text: str) -> bool:
        import boto3
        from botocore.exceptions import ClientError

        bucket, _, key = self.storage.fs_path(self.key).partition("/")
        region = parse_qs(self.storage.options).get("region", [None])[-1]  # pyarrow's option, if the URI gives it
        client = boto3.client("s3", endpoint_url=self.storage.endpoint or os.environ.get("AWS_ENDPOINT_URL"),
                              region_name=region)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=text.encode(), IfNoneMatch="*")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise ConfigError(f"--storage {self.storage.uri}: cannot create the lock {self.where}: {error}") from None
        return True

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.storage.read_text(self.key))
        except (OSError, ValueError):  # gone meanwhile, or a lock being written
            return None

    def _delete(self) -> None:
        with contextlib.suppress(OSError):  # gone already
            self.storage.filesystem.delete_file(self.storage.fs_path(self.key))
