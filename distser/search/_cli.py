"""``distser search``: an experiment file and flags -> :class:`SearchConfig` -> :func:`run_search`.

Precedence: the configuration classes' defaults, then ``--config FILE``, then ``--set KEY=VALUE``,
then the dedicated flags. Only flags actually given count, so ``--resume`` can tell a setting the
user repeats from one that contradicts the search's record.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

from distser.config import ConfigError, dump_toml, load_toml, merge, nest, parse_override

from ._config import EMBEDDED_RUN, MODES, PROTOCOLS, TRAINING_SPACE, SearchConfig

EPILOG = """examples:
  distser search                                           # the demo: ce vs cww+pel-al on the embedded synthetic
                                                           # corpora, every held-out corpus, a small budget (minutes)
  distser search --config docs/results/table2.toml         # an experiment file (every setting)
  distser search --method ce --method cww --store features --train-corpora ravdess,tess,savee \\
      --test-corpus emodb                                  # LOCO over three corpora, EmoDB only tested
  distser search --method cww --selection leave-one-train-corpus-out --store features
  distser search --method ce --normalization global,corpus,speaker --store features   # normalisation searched
  distser search --method ce --feature-set IS10,eGeMAPSv02 --store features   # each feature set its own studies
  distser search --method cww+pel-al --mode grid           # the paper's λ grid instead of Optuna
  distser search --config my.toml --print-config           # the resolved configuration, nothing run
  distser search --resume --name search-20261124-0500      # continue an interrupted search as it was
  distser search --address auto --tracking-uri http://127.0.0.1:5000 ...   # on a Ray cluster

every setting of an experiment file (--set KEY=VALUE sets any of them):
{keys}

method components (join with '+'; a study searches the ranges shown):
{components}

feature sets: {feature_sets}, or a store's ssl-<model>-L<layer> (distser extract --feature-set ssl)
corpus loaders (distser extract): {corpora}
"""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _one_or_list(values: list[str]) -> str | list[str]:
    """One value as itself (the key's form before it took several), several as a list."""
    return values[0] if len(values) == 1 else values


def _epilog() -> str:
    from distser.config import describe
    from distser.corpora import CORPUS_NAMES
    from distser.features import FEATURE_SETS
    from distser.learning import components_help

    keys = "\n".join(f"  {line}" for line in describe(SearchConfig))
    return EPILOG.format(keys=keys, components=components_help(), feature_sets=", ".join(FEATURE_SETS),
                         corpora=", ".join(CORPUS_NAMES))


#: "; N on the embedded synthetic corpora" for each setting the demo's budget sets (help texts).
_EMBEDDED = {key: f"; {value:g} on the embedded synthetic corpora" for section in EMBEDDED_RUN.values()
             for key, value in section.items()}

#: Flags -> (config key, how the flag's value becomes the key's value).
FLAG_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "name": ("name", str),
    "methods": ("study.methods", list),
    "seeds": ("study.seeds", int),
    "eval_seeds": ("study.eval_seeds", int),
    "samples": ("study.samples", int),
    "mode": ("study.mode", str),
    "selection": ("study.selection", str),
    "tune": ("study.tune", lambda values: [v for value in values for v in _csv(value)]),
    "train_corpora": ("data.train_corpora", _csv),
    "test_corpora": ("data.test_corpora", list),
    "holdouts": ("data.holdouts", list),
    "protocol": ("data.protocol", str),
    "store": ("data.store", str),
    "feature_set": ("data.feature_set", lambda values: _one_or_list([v for value in values for v in _csv(value)])),
    "unlabeled": ("data.unlabeled", str),
    "synthetic_scale": ("data.synthetic_scale", float),
    "normalization": ("data.normalization", lambda values: [v for value in values for v in _csv(value)]),
    "adapt_target": ("data.adapt_target", bool),
    "max_epochs": ("training.max_epochs", int),
    "min_steps_per_epoch": ("training.min_steps_per_epoch", int),
    "early_stopping": ("training.early_stopping", bool),
    "checkpoint_seconds": ("training.checkpoint_seconds", float),
    "threads": ("training.threads", int),
    "asha": ("scheduler.asha", bool),
    "address": ("resources.address", str),
    "cpus_per_trial": ("resources.cpus_per_trial", float),
    "max_concurrent": ("resources.max_concurrent", int),
    "max_failures": ("resources.max_failures", int),
    "storage": ("tracking.storage", str),
    "tracking_uri": ("tracking.uri", str),
    "experiment": ("tracking.experiment", str),
    "register_models": ("tracking.register_models", bool),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distser search", argument_default=argparse.SUPPRESS,
        description="Which way of training on several emotional corpora works on a corpus the model has never "
        "seen? One study per (method, held-out corpus, feature set): Optuna proposes configurations, each trained "
        "for every seed as a Ray Tune trial, ASHA stops weak ones, a configuration is selected on validation data "
        "only, and everything is logged to MLflow.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="FILE", help="experiment file (TOML); flags override its keys")
    parser.add_argument("--set", action="append", dest="overrides", metavar="KEY=VALUE",
                        help="set any key of the experiment file, e.g. training.patience=10 (repeatable)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration as an experiment file and exit")

    what = parser.add_argument_group("what to search")
    what.add_argument("--method", action="append", dest="methods", metavar="METHOD",
                      help="training method, e.g. ce, cww, dro, cww+pel-al, cww+unigram (repeatable; default: ce and "
                      "cww+pel-al, the paper's CWW+PEL; an alias such as cww+pel is shown with its name)")
    what.add_argument("--mode", choices=MODES,
                      help="search: Optuna + ASHA (default); grid: the paper's λ grid; paper: the paper's values")
    what.add_argument("--grid", action="store_const", const="grid", dest="mode", help="same as --mode grid")
    what.add_argument("--paper-params", action="store_const", const="paper", dest="mode",
                      help="same as --mode paper: no search, the paper's λ_W = 4, λ_L = 0.001")
    what.add_argument("--selection", metavar="STRATEGY",
                      help="train-domain (default: mean validation UA of the training corpora) or "
                      "leave-one-train-corpus-out (each training corpus held back in turn, then retrained)")
    what.add_argument("--seeds", type=int, help=f"seeds per configuration (default 5{_EMBEDDED['seeds']})")
    what.add_argument("--eval-seeds", type=int,
                      help="seeds the selected configuration is trained and reported with (default: --seeds)")
    what.add_argument("--samples", type=int,
                      help=f"configurations Optuna proposes per study (default 4{_EMBEDDED['samples']})")
    what.add_argument("--tune", action="append", metavar="SETTING",
                      help=f"also search training settings: {', '.join(TRAINING_SPACE)} (repeatable or comma list)")
    what.add_argument("--max-epochs", type=int, help=f"epoch cap per trial (default 100{_EMBEDDED['max_epochs']})")
    what.add_argument("--min-steps-per-epoch", type=int,
                      help="at least this many steps per epoch (default 0: the smallest corpus's minibatches)")
    what.add_argument("--no-early-stopping", action="store_false", dest="early_stopping",
                      help="train every trial for exactly --max-epochs")
    what.add_argument("--no-asha", action="store_false", dest="asha", help="let every trial train to its own end")

    data = parser.add_argument_group("data")
    data.add_argument("--store", help="feature store folder (default: the embedded synthetic corpora)")
    data.add_argument("--feature-set", action="append", metavar="A,B",
                      help="feature set inside the store: an openSMILE one (default IS10) or a store's "
                      "ssl-<model>-L<layer> folder; several (comma list or repeated) are each their own studies "
                      "(one per method, held-out corpus and feature set), compared in the summary and the report")
    data.add_argument("--train-corpora", metavar="A,B,C",
                      help="the pool held out in turn (default: every labelled corpus not tested only)")
    data.add_argument("--test-corpus", action="append", dest="test_corpora", metavar="CORPUS",
                      help="a corpus only evaluated, never trained, validated or selected on (repeatable)")
    data.add_argument("--holdout", action="append", dest="holdouts", metavar="CORPUS",
                      help="held-out corpus (repeatable; default: every corpus of the pool)")
    data.add_argument("--protocol", choices=PROTOCOLS,
                      help="loco (default), within-corpus folds, or pool (one model on the whole pool)")
    data.add_argument("--unlabeled", help="unlabeled corpus for pseudo-emotion labels (default: the store's only "
                                          "one); never a corpus the search trains or tests on")
    data.add_argument("--normalization", action="append", metavar="A,B",
                      help="how features are normalised: global (the paper's, default), corpus, speaker, each also "
                      "-robust (median/IQR); several values (comma list or repeated) make it a searched choice")
    data.add_argument("--no-adapt-target", action="store_false", dest="adapt_target",
                      help="normalise targets (held-out, test-only corpora) with the training statistics, not "
                      "their own features")
    data.add_argument("--synthetic-scale", type=float,
                      help=f"size of the synthetic default relative to the paper's corpora (default 0.05"
                      f"{_EMBEDDED['synthetic_scale']})")

    where = parser.add_argument_group("where")
    where.add_argument("--name", help="name of this search (default search-<timestamp>)")
    where.add_argument("--resume", action="store_true",
                       help="continue the search --name (default: the newest) exactly as it was recorded")
    where.add_argument("--replace", action="store_true", help="start the search --name over, deleting its runs")
    where.add_argument("--storage", help="local folder or URI (s3://, gs://) of Tune results, the search's record and "
                       "the default MLflow/Optuna databases (default runs/); shared by all nodes on a cluster")
    where.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite in "
                       "--storage)")
    where.add_argument("--experiment", help="MLflow experiment (default distser)")
    where.add_argument("--no-register", action="store_false", dest="register_models",
                       help="do not log and register the selected models")
    where.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    where.add_argument("--cpus-per-trial", type=float, help="CPUs reserved per trial (default 1)")
    where.add_argument("--threads", type=int, help="torch threads per trial (default 1)")
    where.add_argument("--max-concurrent", type=int, help="cap on trials running at once")
    where.add_argument("--max-failures", type=int, help="retries of a trial whose node died (default 3)")
    where.add_argument("--checkpoint-seconds", type=float,
                       help="seconds between a trial's resumable checkpoints (default 60; 0: every epoch)")
    where.add_argument("-v", "--verbose", action="count", help="also show Tune's status table and Ray's logs")
    where.add_argument("-q", "--quiet", action="store_true", help="accepted for compatibility (quiet is the default)")
    return parser


def given_layers(args: argparse.Namespace) -> dict[str, Any]:
    """What the user set: the config file, then ``--set``s, then flags (one nested mapping).

    ``MLFLOW_TRACKING_URI`` is the tracking URI when nothing else sets one (MLflow's own convention).
    """
    layers: list[dict[str, Any]] = []
    if getattr(args, "config", None):
        layers.append(load_toml(args.config))
    layers += [parse_override(text) for text in getattr(args, "overrides", [])]
    layers += [nest(key, convert(getattr(args, dest))) for dest, (key, convert) in FLAG_KEYS.items()
               if hasattr(args, dest)]
    given = merge(*layers)
    if "uri" not in given.get("tracking", {}) and os.environ.get("MLFLOW_TRACKING_URI"):
        given = merge(given, {"tracking": {"uri": os.environ["MLFLOW_TRACKING_URI"]}})
    return given


def with_budget(given: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """``given`` over :data:`EMBEDDED_RUN` for a new search on the embedded synthetic corpora, else ``given``.

    Example:
        >>> with_budget({"study": {"seeds": 3}})["study"]
        {'seeds': 3, 'samples': 3}
        >>> with_budget({"data": {"store": "features"}})
        {'data': {'store': 'features'}}
    """
    if resume or given.get("data", {}).get("store") is not None:
        return given
    return merge(EMBEDDED_RUN, given)


def explain(message: str, args: argparse.Namespace) -> str:
    """A settings error with where its setting came from, when that was not a flag (a file or ``--set``).

    The checks name a setting by its flag (``--store features: ...``) or its key (``data.holdouts: ...``);
    a value from an experiment file is named by its key and the file instead.
    """
    import re

    from ._prepare import flat

    flags = {FLAG_KEYS[action.dest][0]: action.option_strings[-1] for action in build_parser()._actions
             if action.dest in FLAG_KEYS and action.option_strings}
    origins: dict[str, str] = {}
    if getattr(args, "config", None):
        origins.update(dict.fromkeys(flat(load_toml(args.config)), args.config))
    for text in getattr(args, "overrides", []):
        origins.update(dict.fromkeys(flat(parse_override(text)), f"--set {text}"))
    for dest, (key, _) in FLAG_KEYS.items():
        if hasattr(args, dest):
            origins.pop(key, None)
    for key, origin in origins.items():
        flag = flags.get(key)
        if flag and message.startswith(f"{flag} "):
            message = key + message[len(flag):]
        if re.search(rf"(?<![\w.-]){re.escape(key)}(?![\w.-])", message):
            return f"{message} ({key} is set in {origin})"
    return message


def configure(argv: list[str]):
    """``distser search ARGV`` up to the start: (config, locations, options), checked; nothing runs yet.

    For scripts and benchmarks: ``run_search(*configure([...]))`` runs it.

    Example:
        >>> config, locations, options = configure(["--method", "ce", "--storage", "/tmp/x"])  # doctest: +SKIP
    """
    from ._prepare import RunOptions, prepare

    args = build_parser().parse_args(argv)
    options = RunOptions(resume=getattr(args, "resume", False), replace=getattr(args, "replace", False),
                         verbose=getattr(args, "verbose", 0) or 0, command=shlex.join(["distser", "search", *argv]))
    config, locations = prepare(with_budget(given_layers(args), options.resume), options)
    return config, locations, options


def alias_notes(methods: list[str]) -> list[str]:
    """One line per method given under another name than the one every output uses.

    Example:
        >>> alias_notes(["ce", "cww+pel"])
        ['method cww+pel is cww+pel-al: runs, models and reports name it so']
    """
    from distser.learning import parse_method

    notes = []
    for given in methods if isinstance(methods, list) else []:
        try:
            name = parse_method(given).name
        except ValueError:  # the configuration's check says what is wrong with it
            continue
        if name != given:
            notes.append(f"method {given} is {name}: runs, models and reports name it so")
    return notes


def _explained(error: ConfigError, arguments: list[str]) -> str:
    try:
        return explain(str(error), build_parser().parse_args(arguments))
    except ConfigError:  # the file or a --set itself is what is wrong: the error says so already
        return str(error)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(arguments)
        for note in alias_notes(given_layers(args).get("study", {}).get("methods", [])):
            print(note, file=sys.stderr)
        if getattr(args, "print_config", False):
            from distser.config import build

            given = with_budget(given_layers(args), getattr(args, "resume", False))
            print(dump_toml(build(SearchConfig, [given])), end="")
            return 0
        config, locations, options = configure(arguments)
    except ConfigError as error:
        print(f"error: {_explained(error, arguments)}", file=sys.stderr)
        return 2
    from ._disk import DiskFull
    from ._run import run_search  # Ray, MLflow, Optuna: only once the settings are known good

    resume = f"distser search --resume --name {config.name} --storage {shlex.quote(config.tracking.storage)}"
    try:
        run_search(config, locations, options)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DiskFull as error:
        print(f"error: {error}: {resume}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: {resume}", file=sys.stderr)
        return 130
    return 0
