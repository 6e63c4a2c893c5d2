"""``--storage``: a local folder or a URI (``s3://``, ``gs://``, ``file://``), through pyarrow's filesystems.

The same filesystems Ray Tune uses for its experiment folders: a path is never turned into a local
path by accident (``s3://bucket/x`` stays a bucket, not ``./s3:/bucket/x``).

An S3-compatible store that is not AWS is reached either through the environment (``AWS_ENDPOINT_URL``,
which pyarrow, Ray's workers and MLflow's boto3 all read) or through pyarrow's URI options, e.g.
``s3://bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http``: the options configure the
filesystem (which Tune hands to its trials) and are kept out of the URIs of the files under the root.
"""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pyarrow as pa
import pyarrow.fs as pafs

from distser.config import ConfigError
from distser.files import atomic_write


@dataclass(frozen=True)
class Storage:
    """A storage root: ``uri`` as given (made absolute for local paths), its filesystem and path in it.

    Example:
        >>> Storage.of("runs").is_local, Storage.of("s3://bucket/x?region=us-east-1").uri
        (True, 's3://bucket/x')
    """

    uri: str
    filesystem: pafs.FileSystem
    path: str
    options: str = ""  # pyarrow's URI options (``endpoint_override=...``), not part of ``uri``

    @classmethod
    def of(cls, location: str) -> Storage:
        """The storage at ``location``.

        Example:
            >>> Storage.of("file:///tmp/runs/").path, Storage.of("s3://b/x/?region=eu-west-1").uri_of("a")
            ('/tmp/runs', 's3://b/x/a')
        """
        if "://" not in location:
            path = str(Path(location).expanduser().resolve())
            return cls(path, pafs.LocalFileSystem(), path)
        if location.startswith("file://"):  # file:///abs/path (file://localhost/abs/path is one too)
            path = str(Path(unquote(location.removeprefix("file://").removeprefix("localhost"))).resolve())
            return cls(Path(path).as_uri(), pafs.LocalFileSystem(), path)
        base, _, options = location.partition("?")
        try:
            filesystem, path = pafs.FileSystem.from_uri(location)
        except (pa.ArrowException, ValueError, OSError) as error:  # unknown scheme, bad bucket name...
            raise ConfigError(f"--storage {location!r}: {error}") from None
        return cls(base.rstrip("/"), filesystem, path.rstrip("/"), options)

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    @property
    def local_path(self) -> Path:
        if not self.is_local:
            raise ValueError(f"{self.uri} is not a local folder")
        return Path(self.path)

    def uri_of(self, *parts: str) -> str:
        """The URI (or absolute path) of a file or folder under the root (without the URI's options)."""
        return posixpath.join(self.uri, *parts) if not self.is_local else str(Path(self.path, *parts))

    def fs_path(self, *parts: str) -> str:
        """The path of a file or folder under the root on :attr:`filesystem` (``bucket/key``: no scheme)."""
        return posixpath.join(self.path, *parts)

    @property
    def endpoint(self) -> str | None:
        """The endpoint URL the URI's options name (``endpoint_override``, ``scheme``), if any.

        Example:
            >>> Storage.of("s3://b/x?endpoint_override=127.0.0.1:9000&scheme=http").endpoint
            'http://127.0.0.1:9000'
        """
        options = {key: values[-1] for key, values in parse_qs(self.options).items()}
        endpoint = options.get("endpoint_override")
        if not endpoint or "://" in endpoint:
            return endpoint or None
        return f"{options.get('scheme', 'https')}://{endpoint}"

    def artifact_client_error(self) -> str | None:
        """Why MLflow could not keep artifacts under this storage (its client library is missing), or None."""
        import importlib.util

        needs = {"s3": ("boto3", "boto3"), "gs": ("google.cloud.storage", "google-cloud-storage")}
        scheme = self.uri.partition("://")[0]
        module, package = needs.get(scheme, (None, None))
        if module is None or importlib.util.find_spec(module.partition(".")[0]) is not None:
            return None
        return (f"--storage {self.uri}: MLflow writes its artifacts there through {package}, which is not installed "
                f"(pip install {package}), or pass a tracking server (--tracking-uri http://...) with its own store")

    def exists(self, *parts: str) -> bool:
        return self.filesystem.get_file_info(self.fs_path(*parts)).type != pafs.FileType.NotFound

    def modified(self, *parts: str) -> int:
        """Modification time (ns) of a file under the root."""
        return self.filesystem.get_file_info(self.fs_path(*parts)).mtime_ns or 0

    def read_text(self, *parts: str) -> str:
        with self.filesystem.open_input_stream(self.fs_path(*parts)) as stream:
            return stream.read().decode()

    def write_text(self, text: str, *parts: str) -> None:
        """Write a file; on a local disk through a temporary name and a rename (never half-written)."""
        target = self.fs_path(*parts)
        self.filesystem.create_dir(posixpath.dirname(target), recursive=True)
        if not self.is_local:  # an object store writes an object whole or not at all
            with self.filesystem.open_output_stream(target) as stream:
                stream.write(text.encode())
            return
        with atomic_write(target, "w") as stream:
            stream.write(text)

    def folders(self) -> list[str]:
        """Names of the folders directly under the root (empty if the root does not exist)."""
        if not self.exists():
            return []
        selector = pafs.FileSelector(self.path, allow_not_found=True)
        return sorted(posixpath.basename(info.path) for info in self.filesystem.get_file_info(selector)
                      if info.type == pafs.FileType.Directory)

    def delete(self, *parts: str) -> None:
        if self.exists(*parts):
            self.filesystem.delete_dir(self.fs_path(*parts))

    def check_folder(self) -> None:
        """ConfigError if the root exists but is not a folder (a regular file given as ``--storage``)."""
        info = self.filesystem.get_file_info(self.path)
        if info.type not in (pafs.FileType.NotFound, pafs.FileType.Directory):
            raise ConfigError(f"--storage {self.uri} is a file, not a folder; give a folder (it is created if "
                              "missing)")

    def check_writable(self) -> bool:
        """Create the root and write and delete a small file; ConfigError naming the storage otherwise.

        Returns whether the root was created here (see :meth:`remove_if_empty`).
        """
        probe = f".distser-write-test-{uuid.uuid4().hex}"
        created = not self.exists()
        try:
            self.filesystem.create_dir(self.path, recursive=True)
            with self.filesystem.open_output_stream(self.fs_path(probe)) as stream:
                stream.write(b"ok")
            self.filesystem.delete_file(self.fs_path(probe))
        except (OSError, pa.ArrowException) as error:
            raise ConfigError(f"--storage {self.uri} is not writable: {error}") from None
        return created

    def remove_if_empty(self) -> None:
        """Remove the root if nothing is in it (a search that failed its checks leaves no folder behind)."""
        selector = pafs.FileSelector(self.path, allow_not_found=True)
        if not self.filesystem.get_file_info(selector):
            self.delete()
