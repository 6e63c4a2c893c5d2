"""Before anything starts: the configuration (new, or a resumed search's record), its locations, the checks.

Everything here runs before Ray starts or any data is read, and fails with one
:class:`~distser.config.ConfigError` naming the culprit.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from distser.config import ConfigError, build, dump_toml, to_dict
from distser.define import File

from ._checks import check_sqlite_uri, check_store, check_tracking
from ._config import DEFINING_SECTIONS, SearchConfig, check_name
from ._storage import Storage


@dataclass
class RunOptions:
    """How this invocation runs, beside what the search is (not recorded)."""

    resume: bool = False
    replace: bool = False
    verbose: int = 0  # 0: one progress line; 1: Tune's status table too
    command: str = ""


@dataclass
class Locations:
    """Where a search's results go, resolved from its tracking section."""

    storage: Storage
    tracking_uri: str
    artifact_location: str | None
    optuna_storage: str | None

    def search_dir(self, name: str) -> str:
        return self.storage.uri_of(name)


def locate(config: SearchConfig) -> Locations:
    """Absolute locations: a local storage folder hosts MLflow's and Optuna's SQLite files by default."""
    storage = Storage.of(config.tracking.storage)
    uri = config.tracking.uri
    if uri is None:
        if not storage.is_local:
            raise ConfigError(f"--storage {storage.uri} is not a local folder: MLflow's default SQLite store cannot "
                              "live there; pass --tracking-uri (a tracking server, or sqlite:///<local path>)")
        uri = f"sqlite:///{storage.local_path / 'mlflow.db'}"
    elif uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"  # record it absolute
    # Artifacts go under the storage, never into the working directory's ./mlruns; a tracking server
    # keeps them in its own artifact store.
    served = uri.startswith(("http://", "https://"))
    artifacts = None if served else (storage.local_path / "mlartifacts").as_uri() if storage.is_local \
        else storage.uri_of("mlartifacts")
    optuna_storage = config.tracking.optuna_storage
    if optuna_storage is None:
        if storage.is_local:
            optuna_storage = f"sqlite:///{storage.local_path / 'optuna.db'}"
        elif uri.startswith("sqlite:///"):
            optuna_storage = f"sqlite:///{Path(uri.removeprefix('sqlite:///')).parent / 'optuna.db'}"
    return Locations(storage, uri, artifacts, optuna_storage)


def existing_searches(storage: Storage) -> list[str]:
    """Searches recorded in ``storage`` (folders holding a record)."""
    return [name for name in storage.folders() if storage.exists(name, File.RECORD)]


def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and key not in ("params", "ranges"):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _absolute_sqlite(uri: str | None) -> str | None:
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).expanduser().resolve()}"
    return uri


def absolute_locations(config: SearchConfig) -> SearchConfig:
    """``config`` with its local paths absolute (store, storage, SQLite URIs), so its record works from any folder.

    Two spellings of one place (``syn``, ``./syn/``, ``/abs/syn``) become one. URIs (``s3://``, ``file://``)
    are absolute already and stay as given (with their options).
    """
    data, tracking = config.data, config.tracking
    store = str(Path(data.store).expanduser().resolve()) if data.store is not None else None
    storage = tracking.storage if "://" in tracking.storage else Storage.of(tracking.storage).uri
    return replace(config, data=replace(data, store=store),
                   tracking=replace(tracking, storage=storage, uri=_absolute_sqlite(tracking.uri),
                                    optuna_storage=_absolute_sqlite(tracking.optuna_storage)))


def contradictions(recorded: SearchConfig, given: dict[str, Any]) -> list[str]:
    """Settings in ``given`` that would change what a recorded search computes (or where its runs are).

    Locations are compared as absolute paths: another spelling of the same store is no contradiction.
    """
    candidate = build(SearchConfig, [to_dict(recorded), given])
    old, new = flat(to_dict(absolute_locations(recorded))), flat(to_dict(absolute_locations(candidate)))
    keys = flat(given)
    defining = tuple(f"{s}." for s in DEFINING_SECTIONS) + ("tracking.uri", "tracking.experiment",
                                                             "tracking.optuna_storage")
    return [f"{key} = {new.get(key)!r} (recorded: {old.get(key)!r})" for key in keys
            if key.startswith(defining) and old.get(key) != new.get(key)]


def prepare(given: dict[str, Any], options: RunOptions) -> tuple[SearchConfig, Locations]:
    """The search's configuration and locations, checked, before Ray starts or any data is read.

    ``given`` is what the user set (config file, ``--set``, flags), as one nested mapping. A new
    search must have a fresh name (``--replace`` starts an existing one over); ``--resume`` restores
    the record of the named search and refuses settings that contradict it.
    """
    config = build(SearchConfig, [given])
    storage = Storage.of(config.tracking.storage)
    storage.check_folder()
    known = existing_searches(storage)
    if options.resume:
        name = config.name or (max(known, key=lambda n: storage.modified(n, File.RECORD)) if known else None)
        if name is None or name not in known:
            listed = ", ".join(known) or "none"
            what = f"no search named {name!r}" if name else "no search"
            raise ConfigError(f"--resume: {what} in {storage.uri} (searches there: {listed})")
        recorded = build(SearchConfig, [load_toml_text(storage.read_text(name, File.RECORD), storage.uri_of(
            name, File.RECORD))])
        clash = contradictions(recorded, {k: v for k, v in given.items() if k != "name"})
        if clash:
            raise ConfigError(f"--resume {name}: settings contradict the search's record "
                              f"({storage.uri_of(name, File.RECORD)}): " + "; ".join(clash))
        resources = build(SearchConfig, [to_dict(recorded), {"resources": given.get("resources", {})}]).resources
        config = replace(recorded, resources=resources)
        if "://" not in config.tracking.storage:  # where the record was found (an older record may be relative)
            config = replace(config, tracking=replace(config.tracking, storage=storage.uri))
    else:
        if config.name is None:
            config = replace(config, name=time.strftime("search-%Y%m%d-%H%M%S"))
        config = absolute_locations(config)  # the record and the printed hints work from any folder
        check_name(config.name)
        if config.name in known and not options.replace:
            raise ConfigError(f"a search named {config.name!r} exists in {storage.uri}; continue it with --resume "
                              "or start it over with --replace")
    locations = locate(config)
    created = storage.check_writable()
    try:
        if locations.artifact_location and not storage.is_local:  # MLflow's artifacts go there via its client
            missing = storage.artifact_client_error()
            if missing:
                raise ConfigError(missing)
            if storage.uri.startswith("s3://") and storage.endpoint:  # named in the URI's options: MLflow's too
                os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", storage.endpoint)
        check_tracking(locations.tracking_uri, config.tracking.experiment)
        if locations.optuna_storage and locations.optuna_storage.startswith("sqlite:///"):
            check_sqlite_uri(locations.optuna_storage, "tracking.optuna_storage")
        check_store(config)
    except ConfigError:
        if created:
            storage.remove_if_empty()
        raise
    return config, locations


def load_toml_text(text: str, where: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: {error}") from None


def record_text(config: SearchConfig, options: RunOptions) -> str:
    """The search's record: its resolved configuration as an experiment file, re-runnable as it is."""
    from ._tracking import git_commit

    header = (f"distser search record: everything that defines search {config.name!r}.\n"
              f"Re-run: distser search --config <this file> --name <new name>; continue: distser search --resume "
              f"--name {config.name} --storage {shlex.quote(config.tracking.storage)}\n"
              f"created {time.strftime('%Y-%m-%d %H:%M:%S')} by: {options.command or 'distser search'}\n"
              f"commit {git_commit()}")
    return dump_toml(config, header=header)
