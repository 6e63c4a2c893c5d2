"""The cluster of the `ray up` test: cluster.yaml pointed at this machine (127.0.0.1) and a project copy of its own.

    python3 tests/cluster/ci_cluster.py prepare-head

runs the config's ``setup_commands`` (the head's venv and ``pip install -e .``, ~2 minutes) on a copy of the
project in ~/distser-ci, as `ray up` would. ``.ci/run`` starts it beside its own install (two single-core pip
runs on two cores), so that `ray up` in the test later finds the venv in place and only checks it: the same
commands, run earlier. Imports only PyYAML and the standard library: the project's venv does not exist yet.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
#: The head's copy of the project (~/distser in cluster.yaml), apart from a real head's on this machine.
HEAD_PROJECT = "~/distser-ci"
#: The head's MLflow secrets folder (~/.distser in cluster.yaml).
SECRETS = "~/.distser-ci"
KEY = Path.home() / ".ssh" / "distser_ci"


def config(project: Path = PROJECT) -> dict:
    """cluster.yaml with this machine as the head, no workers, and every path moved to the test's own."""
    config = yaml.safe_load((project / "cluster.yaml").read_text())
    config["cluster_name"] = "distser-ci"
    config["provider"].update(head_ip="127.0.0.1", worker_ips=[])
    config["max_workers"] = 0
    config["auth"] = {"ssh_user": getpass.getuser(), "ssh_private_key": str(KEY)}
    config["file_mounts"] = {HEAD_PROJECT: str(project), "~/.ray/auth_token": "~/.ray/auth_token"}
    # The same commands, pointed at the test's copy of the project instead of ~/distser.
    for key in ("setup_commands", "head_start_ray_commands", "worker_start_ray_commands"):
        config[key] = [c.replace("~/distser", HEAD_PROJECT).replace("$HOME/distser", HEAD_PROJECT.replace("~", "$HOME"))
                       .replace("~/.distser", SECRETS) for c in config[key]]
    return config


def prepare_head(project: Path = PROJECT) -> None:
    """Copy the project to the head's folder (what `ray up` syncs, less its exclusions) and run the setup."""
    head = Path(HEAD_PROJECT).expanduser()
    cluster = config(project)
    excluded = cluster.get("rsync_exclude", [])
    # rsync's patterns: "/name" only at the top ("/features" is not distser/features), "**/name" anywhere
    top = {entry[1:] for entry in excluded if entry.startswith("/")}
    anywhere = {entry.removeprefix("**/") for entry in excluded if not entry.startswith("/")}

    def skipped(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in anywhere or (Path(folder) == project and n in top)}

    shutil.copytree(project, head, ignore=skipped, dirs_exist_ok=True, symlinks=True)
    for command in cluster["setup_commands"]:
        subprocess.run(["bash", "-c", command], check=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["prepare-head"]:
        raise SystemExit(__doc__)
    prepare_head()
