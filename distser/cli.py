"""The ``distser`` command: one entry point, a subcommand per verb.

Each subcommand is its stage's own command line (``distser.features``, ``distser.search``,
``distser.report``, ``distser.inference``); this module only dispatches to them.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading

#: subcommand -> (module with ``main(argv)``, arguments put before the user's, one-line help)
COMMANDS: dict[str, tuple[str, list[str], str]] = {
    "extract": ("distser.features.__main__", ["extract"], "openSMILE features of corpora on disk -> a feature store"),
    "info": ("distser.features.__main__", ["info"], "what a feature store holds"),
    "compact": ("distser.features.__main__", ["compact"], "rewrite a store's shards (fewer, checksummed)"),
    "synthetic": ("distser.features.__main__", ["synthetic"], "write the embedded synthetic corpora as a store"),
    "search": ("distser.search", [], "hyperparameter search over methods and held-out corpora (Ray Tune, MLflow)"),
    "report": ("distser.report", [], "the paper's tables and figures (and more) from MLflow runs"),
    "predict": ("distser.inference", [], "emotions of audio files with a logged or registered model"),
}

USAGE = "usage: distser {" + ",".join(COMMANDS) + "} [-h] ...\n\n" + "\n".join(
    f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()) + (
    "\n\n`distser COMMAND --help` shows each command's options.\n")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if not arguments or arguments[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if arguments else 2
    command, rest = arguments[0], arguments[1:]
    if command not in COMMANDS:
        print(f"distser: unknown command {command!r}\n\n{USAGE}", end="", file=sys.stderr)
        return 2
    module, prefix, _ = COMMANDS[command]
    return int(importlib.import_module(module).main([*prefix, *rest]) or 0)


def console() -> None:
    """The console script (and ``python -m distser``): :func:`main`, then exit without the interpreter's teardown.

    After a search the interpreter spends seconds freeing torch's, Ray's and pandas's objects module by
    module (3 s of a 28 s tiny search, measured): nothing a command wrote depends on it. What normal exit
    does first still happens: non-daemon threads are waited for, every ``atexit`` handler runs (Ray's
    shutdown, logging's flush), and the standard streams are flushed. An exception leaves the usual way.
    """
    code = main()
    # What the interpreter does first on exit, in its order: threading's own exit hooks (they stop idle
    # thread pools, e.g. MLflow's artifact uploader) and the join of non-daemon threads, then atexit.
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`distser ... | head`) or stream
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    console()
