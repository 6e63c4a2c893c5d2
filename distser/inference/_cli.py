"""``distser predict``: the emotion of audio files, folders, CSV manifests or stored features."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from distser.define import ModelTag
from distser.features import ADAPTS
from distser.files import atomic_write

from ._columns import ERROR, PATH
from ._errors import BundleError, ModelNotFoundError

if TYPE_CHECKING:  # pandas, numpy and the predictor are imported where used: --help stays fast
    import numpy as np
    import pandas as pd

    from ._predictor import Predictor

#: Extensions collected from folders (any format libsndfile reads; files are sniffed by content).
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc", ".au",
                              ".snd", ".w64", ".rf64", ".caf"})
LABEL, SPEAKER, CORPUS = "label", "speaker", "corpus"
#: Rows printed to the terminal; the CSV always has all of them.
PRINT_ROWS = 50
#: Where the CSV goes without --out (beside the reports, not into whatever folder the user stands in).
DEFAULT_OUT = Path("reports") / "predictions.csv"

EPILOG = """examples:
  distser predict --model models:/distser-cww/3 clip.wav more-clips/ manifest.csv
  distser predict --model models:/distser-cww@best --out emodb.csv ../shared/corpora/emodb
      # @best: the model a `distser search --protocol pool` trained on the whole pool
  distser predict --model runs:/<run id>/model --store features --corpus emodb   # stored features, no extraction
  distser predict --model ./exported-model clip.flac                             # a local MLflow model folder
  distser predict --model models:/distser-ce/4 --ssl-model ~/models/wavlm-base-plus clips/
      # a model of self-supervised embeddings whose checkpoint is no longer where extraction found it

inputs: audio files; folders (searched recursively for audio files); CSV manifests (column `path`,
relative paths resolved against the CSV's folder; a `label` column adds the UA; `speaker` and `corpus`
columns serve --adapt). Up to 200 files are extracted in this process, more on a Ray Data actor pool
(--ray / --no-ray to choose). A model trained on self-supervised embeddings (ssl-<model>-L<layer>) embeds
the audio with the checkpoint and layer its training embeddings came from: the folder extraction found it
in, or --ssl-model FOLDER; a checkpoint whose checksum differs is refused. It needs the ssl extra.

adaptation: a model trained with a per-corpus or per-speaker normalisation (distser search
--normalization corpus|speaker) normalises the clips given together by their own statistics, as the
search did with its held-out corpus: give all clips of a corpus in one call (a `corpus` column of a
manifest, or --store's corpora, are adapted to one by one). --adapt none uses the training statistics
instead; --adapt speaker needs a `speaker` column (a store's manifest has one). At least 10 clips.

output: a table on stdout and a CSV (default reports/predictions.csv; --out FILE, or --out FOLDER/ for
FOLDER/predictions.csv) with columns path, emotion,
p_<class> per class, error (and label). A file that cannot be read is listed with its reason,
the others still land; the exit status is then 1. Errors that stop everything (model not found,
feature-set mismatch, no audio) print one `error:` line and exit with 2, writing nothing.
"""


class UsageError(ValueError):
    """Stops the command before anything is written (exit status 2)."""


class AdaptError(UsageError):
    """The clips cannot be adapted to as asked (too few, no speakers, a model that does not adapt)."""


def _groups(frame: pd.DataFrame) -> list[np.ndarray]:
    """Row positions of each corpus of ``frame`` (its ``corpus`` column), adapted to one by one; all rows if none."""
    import numpy as np

    if CORPUS not in frame or frame[CORPUS].isna().all():
        return [np.arange(len(frame))]
    return [np.flatnonzero((frame[CORPUS] == name).to_numpy()) for name in dict.fromkeys(frame[CORPUS])]


def _speakers(frame: pd.DataFrame) -> list | None:
    return frame[SPEAKER].replace("", None).tolist() if SPEAKER in frame else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distser predict",
        description="Predict the emotion of recordings with a model a search logged to MLflow.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", metavar="PATH", help="audio files, folders or CSV manifests")
    parser.add_argument("-m", "--model", required=True, metavar="URI",
                        help="models:/<name>/<version>, models:/<name>@<alias>, runs:/<run id>/model, "
                        "or a local MLflow model folder")
    parser.add_argument("--tracking-uri", default=None, metavar="URI",
                        help="MLflow tracking store of models:/ and runs:/ URIs (default: $MLFLOW_TRACKING_URI, "
                        "else sqlite:///runs/mlflow.db, the search's default)")
    parser.add_argument("-o", "--out", default=str(DEFAULT_OUT), metavar="FILE",
                        help=f"CSV to write, or a folder to write predictions.csv in (default: {DEFAULT_OUT})")
    parser.add_argument("--store", type=Path, default=None, metavar="DIR",
                        help="predict features already in this feature store instead of audio files")
    parser.add_argument("--corpus", action="append", default=None, metavar="NAME",
                        help="with --store: corpus to predict (repeatable; default: all in the store)")
    parser.add_argument("--feature-set", default=None, help="with --store: the store's feature set, an openSMILE "
                        "one or ssl-<model>-L<layer> (default: the one the model was trained on)")
    parser.add_argument("--ssl-model", default=None, metavar="FOLDER",
                        help="a model of self-supervised embeddings: its checkpoint's folder, if not where "
                        "extraction found it (the same files: checked by their checksum)")
    parser.add_argument("--adapt", choices=ADAPTS, default=None,
                        help="normalise the clips by their own statistics (corpus), each speaker's (speaker), or the "
                        "training statistics (none); default: as the model was trained")
    parser.add_argument("--ray", action=argparse.BooleanOptionalAction, default=None,
                        help="extract on a Ray Data actor pool (default: only for more than 200 files)")
    parser.add_argument("--workers", type=int, default=None, help="Ray extraction actors (default: one per CPU)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no table and no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``distser predict``; returns the exit status (0 fine, 1 some files failed, 2 nothing done)."""
    args = build_parser().parse_args(argv)
    args.out = output_path(args.out)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        if bool(args.inputs) == (args.store is not None):
            raise UsageError("give audio files/folders/CSV manifests, or --store DIR, not both or neither")
        if args.corpus and args.store is None:
            raise UsageError("--corpus needs --store")
        table = _predict_store(args) if args.store is not None else _predict_files(args)
        _write_csv_atomic(table, args.out)
    except (UsageError, ModelNotFoundError, BundleError, FileNotFoundError, AdaptError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = table[table[ERROR] != ""]
    if not args.quiet:
        _print_table(table, args.out)
    print(f"{len(table)} inputs: {len(table) - len(failed)} predicted, {len(failed)} failed; wrote {args.out}",
          file=sys.stderr)
    for row in failed.itertuples(index=False):
        print(f"  failed: {getattr(row, PATH)}: {getattr(row, ERROR)}", file=sys.stderr)
    ua_line = _ua_line(table)
    if ua_line:
        print(ua_line)
    return 1 if len(failed) else 0


# ---------------------------------------------------------------------------------------- inputs
def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('runs/mlflow.db').resolve()}"


def _load(args: argparse.Namespace, *, extracts: bool = True) -> Predictor:
    """The model of ``--model``; one that ``extracts`` from audio has its extractor's checkpoint checked here."""
    from ._predictor import load_predictor

    predictor = load_predictor(args.model, args.tracking_uri or default_tracking_uri(), ssl_model=args.ssl_model)
    extractor = predictor.bundle.extractor
    if args.ssl_model is not None and extractor is None:
        raise UsageError(f"--ssl-model is for models of self-supervised embeddings; {args.model} takes "
                         f"{predictor.feature_set} features")
    warning = synthetic_warning(predictor.bundle.metadata, args.model)
    if warning:  # the first line the user sees: before any progress, table or summary
        print(warning, file=sys.stderr, flush=True)
    if extractor is not None and extracts:
        try:  # before anything is read: a missing or other checkpoint, or no ssl extra, is one line
            predictor.checkpoint()
        except ValueError as error:
            raise UsageError(f"{args.model}: {error}") from None
    return predictor


def synthetic_warning(metadata: dict[str, str], model: str) -> str | None:
    """The warning for a model trained on synthetic features (its bundle says so), else None.

    Example:
        >>> synthetic_warning({"synthetic": "true", "store": "embedded synthetic (scale 0.05)"}, "m")[:60]
        'warning: m was trained on synthetic features (embedded synth'
        >>> synthetic_warning({"synthetic": "false"}, "m") is None
        True
    """
    if metadata.get(ModelTag.SYNTHETIC) != "true":
        return None
    return (f"warning: {model} was trained on synthetic features ({metadata.get(ModelTag.STORE, 'synthetic')}), "
            "not on recorded speech: a demo model, its emotions mean nothing for real audio")


def _adapt(args: argparse.Namespace, predictor: Predictor) -> str:
    return predictor.bundle.default_adapt if args.adapt is None else args.adapt


def collect_inputs(inputs: list[str]) -> pd.DataFrame:
    """``path`` (and ``label``) rows of files, folders and CSV manifests, in order; ``error`` for missing ones."""
    import pandas as pd

    rows: list[dict] = []
    for given in inputs:
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file() and not p.name.startswith("."))
            if not found:
                raise UsageError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) found under {given}")
            rows += [{PATH: str(p), ERROR: ""} for p in found]
        elif path.is_file() and path.suffix.lower() == ".csv":
            rows += _manifest_rows(path)
        elif path.is_file():
            rows.append({PATH: str(path), ERROR: ""})
        else:
            rows.append({PATH: given, ERROR: "no such file or folder"})
    if not rows:
        raise UsageError("no audio found in the inputs")
    frame = pd.DataFrame(rows)
    for column in (LABEL, SPEAKER, CORPUS):
        if column in frame:
            frame[column] = frame[column].fillna("")
    return frame


def _manifest_rows(csv_path: Path) -> list[dict]:
    import pandas as pd

    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise UsageError(f"cannot read CSV manifest {csv_path}: {error}") from error
    if PATH not in frame.columns:
        raise UsageError(f"CSV manifest {csv_path} has no 'path' column (columns: {', '.join(frame.columns)})")
    if frame.empty:
        raise UsageError(f"CSV manifest {csv_path} lists no files")
    rows = []
    for record in frame.to_dict("records"):
        given = record[PATH].strip()
        path = Path(given).expanduser()
        path = path if path.is_absolute() else csv_path.parent / path
        row = {PATH: str(path), ERROR: "" if path.is_file() else "no such file"}
        row.update({column: record[column].strip() for column in (LABEL, SPEAKER, CORPUS) if column in frame.columns})
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------- predicting
def _predict_files(args: argparse.Namespace) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    inputs = collect_inputs(args.inputs)
    predictor = _load(args)
    todo = inputs[inputs[ERROR] == ""]
    groups = [todo.iloc[rows] for rows in _groups(todo) if len(rows)]
    for group in groups:  # before any extraction: a request that cannot be adapted to fails at once
        try:
            predictor.bundle.check_adapt(_adapt(args, predictor), len(group), _speakers(group))
        except ValueError as error:
            raise AdaptError(str(error)) from None
    parts = [pd.DataFrame(columns=[PATH])]
    for group in groups:
        try:
            parts.append(predictor.predict_files(group[PATH].tolist(), use_ray=args.ray, num_workers=args.workers,
                                                 progress=not args.quiet and len(todo) >= 20, adapt=args.adapt,
                                                 speakers=_speakers(group)).set_axis(group.index))
        except ValueError as error:  # too few of the group's clips could be read to adapt to
            raise AdaptError(f"{error} (after {len(group)} clips were read, some failed)") from None
    predicted = pd.concat(parts)
    missing = inputs[inputs[ERROR] != ""]
    blank = predictor.predict_features(np.full((len(missing), predictor.bundle.input_dim), np.nan, np.float32),
                                       missing[ERROR].tolist())
    blank.index = missing.index
    blank.insert(0, PATH, missing[PATH])
    table = pd.concat([predicted, blank]).sort_index()
    if LABEL in inputs:
        table[LABEL] = inputs[LABEL]
    return table.reset_index(drop=True)


def _predict_store(args: argparse.Namespace) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    from distser.features import FEATURE_SETS, FeatureStore, is_ssl_feature_set

    given = args.feature_set
    if given is not None and given not in FEATURE_SETS and not is_ssl_feature_set(given):
        raise UsageError(f"unknown feature set {given!r}; choose one of {', '.join(FEATURE_SETS)}, "
                         "or a store's ssl-<model>-L<layer>")
    if not args.store.is_dir():
        raise FileNotFoundError(f"--store {args.store}: no such folder")
    predictor = _load(args, extracts=False)
    store = FeatureStore(args.store, given or predictor.feature_set)
    if not store.corpora():
        raise FileNotFoundError(f"no feature shards under {store.path}")
    if predictor.feature_set != store.feature_set:
        raise UsageError(
            f"model {args.model} takes {predictor.feature_set} features ({predictor.bundle.input_dim} values), "
            f"but the store {store.path} holds {store.feature_set} ({store.dim}); use a store of "
            f"{predictor.feature_set} features (--feature-set {predictor.feature_set}) or another model")
    theirs, mine = store.extractor, predictor.bundle.extractor
    if mine is not None and (theirs is None or not theirs.same_embeddings(mine)):
        raise UsageError(f"model {args.model} takes embeddings of {mine.describe()}, but {store.path} holds "
                         f"those of {theirs.describe() if theirs else 'an unknown extractor'}")
    manifest, features = store.load(args.corpus)
    parts, groups = [], _groups(manifest)
    for rows in groups:  # each corpus of the store adapted to on its own
        try:
            parts.append(predictor.predict_features(features[rows], adapt=args.adapt,
                                                    speakers=manifest["speaker"].iloc[rows].tolist()))
        except ValueError as error:
            raise AdaptError(str(error)) from None
    table = pd.concat(parts, ignore_index=True).set_axis(np.concatenate(groups)).sort_index()
    table.insert(0, PATH, manifest["path"].astype(str).to_numpy())
    table[LABEL] = manifest["label"].fillna("").astype(str).to_numpy()
    return table


# ---------------------------------------------------------------------------------------- output
def output_path(given: str) -> Path:
    """``--out``: a CSV file, or a folder (existing, or written with a trailing slash) to hold predictions.csv."""
    path = Path(given).expanduser()
    if path.is_dir() or given.endswith(("/", os.sep)):
        return path / DEFAULT_OUT.name
    return path


def _write_csv_atomic(table: pd.DataFrame, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "w", newline="") as stream:
        table.to_csv(stream, index=False, float_format="%.6f")
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _print_table(table: pd.DataFrame, out: Path) -> None:
    import pandas as pd

    shown = table.head(PRINT_ROWS).copy()
    probabilities = [c for c in shown.columns if c.startswith("p_")]
    shown[probabilities] = shown[probabilities].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    print(shown.to_string(index=False))
    if len(table) > PRINT_ROWS:
        print(f"... {len(table) - PRINT_ROWS} more rows in {out}")


def _ua_line(table: pd.DataFrame) -> str | None:
    """UA and WA over the rows whose label is one of the model's classes and that were predicted."""
    import numpy as np

    if LABEL not in table:
        return None
    classes = [c.removeprefix("p_") for c in table.columns if c.startswith("p_")]
    scored = table[(table[ERROR] == "") & table[LABEL].isin(classes)]
    if scored.empty:
        return None
    from ._diagnostics import MACRO, class_report

    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (scored[LABEL].map(index).to_numpy(), scored["emotion"].map(index).to_numpy()), 1)
    ua = class_report(confusion, classes).loc[MACRO, "recall"]
    wa = np.trace(confusion) / confusion.sum()
    return f"UA {100 * ua:.1f} %, WA {100 * wa:.1f} % over {len(scored)} labelled inputs"
