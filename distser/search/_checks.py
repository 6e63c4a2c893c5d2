"""Fail fast: everything a search needs is checked before Ray starts and before any data is read.

Each check raises :class:`~distser.config.ConfigError` with one line naming the culprit (the URI,
folder, corpus or key) and returns within seconds: a tracking server that does not answer is given
a short timeout, not MLflow's minutes of retries.
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from distser.config import ConfigError
from distser.features import IDENTITY_FILE, FeatureStore, feature_sets_in, is_ssl_feature_set

from ._config import SearchConfig

#: Seconds to wait for a tracking server before saying it does not answer.
TRACKING_TIMEOUT = 5.0


def check_sqlite_uri(uri: str, what: str = "--tracking-uri") -> Path:
    """A ``sqlite:///`` URI whose database exists or can be created: its folder exists and is writable."""
    if not uri.startswith("sqlite:///"):
        raise ConfigError(f"{what} {uri!r}: expected sqlite:///<path> (four slashes for an absolute path)")
    path = Path(uri.removeprefix("sqlite:///"))  # "/abs/db" (from sqlite:////abs/db) or "relative/db"
    folder = path.parent
    if path.exists():
        if not os.access(path, os.W_OK) or not os.access(folder, os.W_OK):
            raise ConfigError(f"{what} {uri}: the database {path} (or its folder) is not writable")
        return path
    if not folder.is_dir():
        raise ConfigError(f"{what} {uri}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{what} {uri}: cannot create the database in {folder} (not writable)")
    return path


def check_tracking_server(uri: str, experiment: str, timeout: float = TRACKING_TIMEOUT) -> None:
    """An MLflow server answers, lets us in (basic auth from MLFLOW_TRACKING_USERNAME/PASSWORD) and can write."""
    query = urllib.parse.urlencode({"experiment_name": experiment})
    request = urllib.request.Request(f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?{query}")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code == 404:  # the experiment does not exist yet: the server answers
            return
        if error.code in (401, 403):
            raise ConfigError(f"--tracking-uri {uri}: the server refused us (HTTP {error.code}); set "
                              "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (on a cluster head: "
                              ". ~/.distser/mlflow.env)") from None
        raise ConfigError(f"--tracking-uri {uri}: the server answered HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ConfigError(f"--tracking-uri {uri}: no MLflow server answers within {timeout:g} s ({reason})") from None


def check_tracking(uri: str, experiment: str) -> None:
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme == "sqlite":
        check_sqlite_uri(uri)
    elif scheme in ("http", "https"):
        check_tracking_server(uri, experiment)
    elif scheme in ("", "file"):
        folder = Path(uri.removeprefix("file://"))
        if folder.exists() and not os.access(folder, os.W_OK):
            raise ConfigError(f"--tracking-uri {uri}: {folder} is not writable")
        if not folder.exists() and not os.access(folder.parent if folder.parent.exists() else Path("/"), os.W_OK):
            raise ConfigError(f"--tracking-uri {uri}: cannot create {folder}")
    else:
        raise ConfigError(f"--tracking-uri {uri}: unsupported scheme {scheme!r} (use sqlite:///, http(s)://, a folder)")


def extract_command(store: str, feature_set: str) -> str:
    """The command that makes ``feature_set``'s shards in ``store``.

    Example:
        >>> extract_command("features", "eGeMAPSv02")
        'distser extract --store features --feature-set eGeMAPSv02 --corpus NAME=DIR ...'
    """
    if is_ssl_feature_set(feature_set):
        return f"distser extract --store {store} --feature-set ssl --model MODEL --layer N --corpus NAME=DIR ..."
    which = "" if feature_set == "IS10" else f" --feature-set {feature_set}"
    return f"distser extract --store {store}{which} --corpus NAME=DIR ..."


def check_store(config: SearchConfig) -> dict[str, FeatureStore] | None:
    """The feature store exists, holds shards of each feature set, and has every corpus the data section names.

    Reads folder names only (no data). Returns each feature set's store, in the order given; None for the
    embedded synthetic default.
    """
    data = config.data
    ssl = [name for name in data.feature_sets if is_ssl_feature_set(name)]
    if data.store is None:
        if ssl:
            raise ConfigError(f"--feature-set {ssl[0]}: self-supervised embeddings come from a store (--store) made "
                              "by `distser extract --feature-set ssl`; the embedded synthetic corpora have openSMILE "
                              "widths only")
        return None
    root = Path(data.store)
    if not root.is_dir():
        raise ConfigError(f"--store {data.store}: no such folder; make it with `distser extract --store "
                          f"{data.store} --corpus NAME=DIR ...` (or `distser synthetic --store {data.store}`), "
                          "or leave the store out for the embedded synthetic corpora")
    found = feature_sets_in(root)
    stores = {}
    for name in data.feature_sets:
        folder = root / name
        if is_ssl_feature_set(name) and folder.is_dir() and not (folder / IDENTITY_FILE).is_file():
            raise ConfigError(f"--feature-set {name}: {folder} has no {IDENTITY_FILE} (which model made its "
                              f"embeddings); make it with `{extract_command(data.store, name)}`")
        store = FeatureStore(data.store, name)
        corpora = store.corpora()
        if not corpora:
            others = [f for f in found if f not in data.feature_sets]
            raise ConfigError(f"--store {data.store}: no {name} feature shards under {folder}; make them with "
                              f"`{extract_command(data.store, name)}`"
                              + (f" (the store has {', '.join(others)}: pass --feature-set)" if others else ""))
        named = {"data.train_corpora": data.train_corpora, "data.test_corpora": data.test_corpora,
                 "data.holdouts": data.holdouts, "data.unlabeled": [data.unlabeled] if data.unlabeled else []}
        for key, names in named.items():
            unknown = [n for n in names if n not in corpora]
            if unknown:
                raise ConfigError(f"{key}: corpus {unknown[0]!r} is not in the store {store.path} "
                                  f"(it has {', '.join(corpora)})"
                                  + (f"; extract it: `{extract_command(data.store, name)}`" if stores else ""))
        stores[name] = store
    if not data.train_corpora:  # each set's pool is every corpus of its folder: the sets must hold the same
        first, *others = stores
        for name in others:
            missing = sorted(set(stores[first].corpora()) ^ set(stores[name].corpora()))
            if missing:
                lacking = name if missing[0] in stores[first].corpora() else first
                raise ConfigError(f"--feature-set: {lacking} has no corpus {missing[0]!r} under {root / lacking} "
                                  f"that {first if lacking == name else name} has; the sets' studies would not pair. "
                                  f"Extract it (`{extract_command(data.store, lacking)}`) or name the corpora "
                                  "(--train-corpora)")
    return stores
