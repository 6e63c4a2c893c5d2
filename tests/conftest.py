"""Shared fixtures: every cache and output goes to a temp dir; synthetic data by default."""

from __future__ import annotations

import fcntl
import functools
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

PROJECT = Path(__file__).resolve().parents[1]
#: The real public corpora: $DISTSER_CORPORA, else ``shared/corpora`` beside the project.
SHARED_CORPORA = Path(os.environ.get("DISTSER_CORPORA") or PROJECT / ".." / "shared" / "corpora").expanduser().resolve()


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))  # set in pytest-xdist's workers
    if workers > 1:
        # Each worker's torch (and the processes it starts: searches, Ray's workers) threads on its share of the
        # cores: two workers' torch threads on the same cores wait on each other.
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // workers)))


@pytest.fixture(scope="session", autouse=True)
def distser_cache(tmp_path_factory):
    """distser's cache (MLflow's empty database, synthetic stores of remote searches) in the session's temp dir;
    driver subprocesses inherit it through the environment."""
    folder = tmp_path_factory.mktemp("distser-cache")
    previous = os.environ.get("DISTSER_CACHE")
    os.environ["DISTSER_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("DISTSER_CACHE", None)
    else:
        os.environ["DISTSER_CACHE"] = previous


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    """The real public corpora (:data:`SHARED_CORPORA`); tests needing them skip (with the reason) without."""
    if not SHARED_CORPORA.is_dir():
        pytest.skip(f"real corpora not found at {SHARED_CORPORA} (set DISTSER_CORPORA to their folder)")
    return SHARED_CORPORA


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """A small synthetic feature store shared by the session's tests (read-only by convention)."""
    from distser.features import write_synthetic

    return write_synthetic(str(tmp_path_factory.mktemp("synthetic")), scale=0.02, seed=0)


#: The real store's share of each shared corpus: every file of the three that tests train and predict on
#: (tests/search/test_models.py), every n-th of the others (TESS's 1600 files alone took a minute of CI).
REAL_STORE_EVERY = {"ravdess": 1, "savee": 1, "emodb": 1, "tess": 16, "librispeech": 4}


@pytest.fixture(scope="session")
def real_store(shared_corpora, tmp_path_factory, ray_local):
    """IS10 features of the five shared corpora (:data:`REAL_STORE_EVERY`: 1499 of their 3262 files), extracted
    once per session (slow tests): (store, manifest, extraction report). Under pytest-xdist (.ci/run), once
    for all workers: the first to need it extracts it into the run's shared temp folder, the others wait."""
    import pandas as pd

    from distser.corpora import load_corpus
    from distser.features import FeatureStore, extract

    manifest = pd.concat([load_corpus(name, shared_corpora / name).iloc[::every]
                          for name, every in REAL_STORE_EVERY.items()], ignore_index=True)
    shared = _xdist_run_folder(tmp_path_factory) or tmp_path_factory.mktemp("real-store")
    folder, done = shared / "real-store", shared / "real-store.report.pickle"
    with open(shared / "real-store.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            report = extract(manifest, folder, num_workers=2, progress=lambda message: None)
            done.with_suffix(".tmp").write_bytes(pickle.dumps(report))
            done.with_suffix(".tmp").replace(done)
        report = pickle.loads(done.read_bytes())
    return FeatureStore(folder), manifest, report


def _xdist_run_folder(tmp_path_factory) -> Path | None:
    """Under pytest-xdist, the run's temp folder, which holds each worker's own: what the workers share (None
    without xdist)."""
    return tmp_path_factory.getbasetemp().parent if "PYTEST_XDIST_WORKER" in os.environ else None


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray instance for the session (2 CPUs), shut down at the end."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def search_runs(tracking_uri: str, search_name: str, role: str, experiment: str = "distser") -> list:
    """MLflow runs of one search: role 'search' (the parent) or 'trial' (children). Empty if none yet."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id],
                              f"tags.`distser.search` = '{search_name}' and tags.`distser.role` = '{role}'")


@pytest.fixture
def mlflow_runs():
    return search_runs


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for driver subprocesses: project on the path, telemetry off, unbuffered output."""
    env = dict(os.environ)
    env.update(RAY_USAGE_STATS_ENABLED="0", MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1",
               TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S="0")
    return env


def cli_search(argv: list[str]):
    """Run ``distser search ARGV`` in this process (through its parser): (config, locations, summary)."""
    from distser.search import configure, run_search

    config, locations, options = configure(argv)
    return config, locations, run_search(config, locations, options)


@pytest.fixture(scope="session")
def search_cli():
    """:func:`cli_search`: run ``distser search ARGV`` in the test process."""
    return cli_search


#: The session's one real search (see :func:`shared_search`): its name and its ``distser search`` arguments.
SEARCH_NAME = "search-test"
SEARCH_ARGS = ["--method", "ce", "--method", "cww+pel", "--holdout", "iemocap", "--holdout", "crema-d",
               "--test-corpus", "msp-podcast", "--seeds", "2", "--samples", "2", "--max-epochs", "5",
               "--synthetic-scale", "0.02", "--checkpoint-seconds", "0", "--name", SEARCH_NAME,
               # ASHA's first rung at epoch 2 (its default, 5, would be the last epoch, where it never cuts)
               "--set", "scheduler.grace_period=2"]


@dataclass(frozen=True)
class SharedSearch:
    """The finished shared search: what ``distser search`` returned, and where it ran and wrote.

    ``storage``: the local folder its ``--storage file://`` URI names; ``cwd``: the (empty) working
    directory it ran from; ``checkpoints``: the trials' checkpoint folders under ``storage`` just before
    the finished search deleted them (it keeps none once its selected models are logged).
    """

    config: object
    locations: object
    summary: object
    storage: Path
    cwd: Path
    checkpoints: tuple[Path, ...]


@pytest.fixture(scope="session")
def shared_search(tmp_path_factory, ray_local, pytestconfig) -> SharedSearch:
    """The default suite's one real search, in this process on the session's Ray, so that its fixed cost (Tune's
    and MLflow's start-up, the synthetic store) is paid once: ce and cww+pel (2 Optuna proposals, the paper's values
    first; ASHA may cut seeds at epoch 2, and the selected configuration's cut seeds are completed in a final
    phase), held-out iemocap and crema-d, test-only msp-podcast, 2 seeds, 5 epochs, a checkpoint every epoch,
    the selected models registered (``distser-synthetic-ce``, ``distser-synthetic-cww+pel-al``: a version per
    held-out corpus);
    ``--storage file://...`` from an empty working directory.

    Used through :func:`finished_search` (tests/search), ``tiny_search`` (tests/report) and the file://
    storage test (tests/search/test_storage.py). They only read it, except ``distser report --log``, which
    attaches a report to its parent run.
    """
    from distser.search import _run

    _made_once_per_run(tmp_path_factory, pytestconfig)
    root = tmp_path_factory.mktemp("shared-search")
    storage, cwd = root / "runs", root / "cwd"
    cwd.mkdir()
    seen: list[Path] = []
    delete_checkpoints = _run.delete_checkpoints

    def recording(where, name):  # observe the trials' checkpoints at the moment the search deletes them
        seen.extend(sorted(where.local_path.glob(f"{name}/trial-*/checkpoint_*")))
        return delete_checkpoints(where, name)

    before = os.getcwd()
    os.chdir(cwd)  # monkeypatch.chdir is function-scoped
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_run, "delete_checkpoints", recording)
            patch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the tracking store is the one in --storage
            config, locations, summary = cli_search([*SEARCH_ARGS, "--storage", storage.as_uri()])
    finally:
        os.chdir(before)
    return SharedSearch(config, locations, summary, storage, cwd, tuple(seen))


def _made_once_per_run(tmp_path_factory, config) -> None:
    """Under pytest-xdist, fail a second worker that starts the shared search where :func:`pytest_xdist_make_scheduler`
    schedules: the files that use it must share a worker, or each worker pays for its own."""
    run_folder = _xdist_run_folder(tmp_path_factory)
    if run_folder is None or config.getvalue("dist") not in _SCHEDULED:
        return
    worker = os.environ["PYTEST_XDIST_WORKER"]
    record = run_folder / "shared-search.made-by"
    try:
        with open(record, "x") as made_by:
            made_by.write(worker)
    except FileExistsError:
        pytest.fail(f"worker {worker} starts the shared search, which {record.read_text()} made already: the "
                    "files that use it must run on one worker (pytest_xdist_make_scheduler in tests/conftest.py)")


@pytest.fixture(scope="session")
def finished_search(shared_search):
    """The shared search (:func:`shared_search`): (config, locations, summary)."""
    return shared_search.config, shared_search.locations, shared_search.summary


#: The fixtures that hand out the session's search: :func:`shared_search`, :func:`finished_search`, and
#: ``tiny_search`` (tests/report/conftest.py).
_SHARED_SEARCH_FIXTURE = re.compile(r"\b(shared_search|finished_search|tiny_search)\b")
#: The unit of work under pytest-xdist that holds every test file using the shared search.
_SHARED_SEARCH_SCOPE = "files using the shared search"
#: xdist's ``--dist`` modes that :func:`pytest_xdist_make_scheduler` schedules: ``load`` is xdist's default under
#: ``-n``, which a worker sees as ``no``.
_SCHEDULED = ("no", "load", "loadfile")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (``-n 2``), a test file is a unit of work, so that its module fixtures are made once
    (xdist's ``--dist loadfile``), and the files that use the shared search are one unit together, so that it
    is made once, by one worker (each worker has its own session: it would make its own). Another ``--dist``
    mode than ``load`` (xdist's default) and ``loadfile`` is left to xdist."""
    if config.getvalue("dist") not in _SCHEDULED:
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedSearchTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return _SHARED_SEARCH_SCOPE if _uses_shared_search(config.rootpath / file) else file

    return SharedSearchTogether(config, log)


@functools.cache
def _uses_shared_search(path: Path) -> bool:
    """Whether the test file at ``path`` names one of the shared search's fixtures (its source, not its
    collected tests: xdist's controller schedules by node id and collects nothing itself)."""
    return path.suffix == ".py" and bool(_SHARED_SEARCH_FIXTURE.search(path.read_text()))
