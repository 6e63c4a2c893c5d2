"""``distser search`` with one fault injected at an exact moment (used by ``tests/search/test_faults.py``).

    python tests/search/fault_driver.py FAULT FAULT_DIR -- <distser search arguments>

``FAULT_DIR`` is a folder the test shares with this driver and its trials (one machine): the fault
writes a marker file there when it strikes (what it hit, as JSON), so the test can tell the fault
really happened, and it strikes only once.

Faults:

- ``kill-worker-node-at-final-report``: a trial running on the worker node (its ``ray start`` was given
  ``DISTSER_FAULT_NODE=worker``) kills that node's whole session (raylet, object store, its own
  worker process) right before handing in its final result and model checkpoint. The session id is
  read from ``FAULT_DIR/worker-sid`` (the test writes it).
- ``kill-driver-in-log-final``: the driver writes the first half of a trial's final metrics to MLflow,
  then SIGKILLs itself (the rest of the batch and the trial's end are never written).
- ``kill-driver-in-log-model``: the driver logs and registers the first selected model, then SIGKILLs
  itself before tagging the run as selected and logging its diagnostics.
- ``interrupt-driver-at-final-result``: the driver interrupts itself (SIGINT, as Ctrl+C) right after Tune
  took in a trial's final result and model checkpoint, before the trial's end is recorded.

Nothing happens at import (pytest imports this module for its doctests).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def _strike_once(fault_dir: Path, what: dict) -> bool:
    """Create the marker atomically; False if the fault already struck."""
    try:
        descriptor = os.open(fault_dir / "struck", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as stream:
        json.dump(what, stream)
    return True


def kill_worker_node_at_final_report(fault_dir: Path) -> None:
    import subprocess

    from ray import tune

    import distser.search._run as run
    from distser.search._trainable import run_trial

    def faulty_trial(config, data):
        # Pickled by value (defined in __main__) and run in the trial's worker process.
        from ray import tune as worker_tune

        original = worker_tune.report

        def report(metrics, *args, **kwargs):
            on_worker = os.environ.get("DISTSER_FAULT_NODE") == "worker"
            if metrics.get("finished") == 1 and on_worker and _strike_once(
                    fault_dir, {"study": config["study"], "seed": config["seed"], "config": config["config"],
                                "phase": config["phase"], "pid": os.getpid()}):
                sid = int((fault_dir / "worker-sid").read_text())
                subprocess.run(["pkill", "-KILL", "-s", str(sid)], check=False)
                time.sleep(120)  # killed with its node before this returns
                raise RuntimeError("the worker node was not killed")
            return original(metrics, *args, **kwargs)

        worker_tune.report = report
        try:
            return run_trial(config, data)
        finally:
            worker_tune.report = original

    def trainable(shared, cpus: float):
        return tune.with_resources(tune.with_parameters(faulty_trial, data=shared), {"cpu": cpus})

    run._trainable = trainable


def kill_driver_in_log_final(fault_dir: Path) -> None:
    from mlflow.entities import Metric as MlflowMetric

    from distser.search._tracking import MLflowTrialCallback

    def _log_final(self, run_id: str, result: dict) -> None:
        final = [(k, v) for k, v in result["final"].items() if v == v]
        now, step = int(time.time() * 1000), int(result.get("epoch", 0))
        first = final[: len(final) // 2]
        self.tracker.client.log_batch(run_id, metrics=[MlflowMetric(k, float(v), now, step) for k, v in first])
        _strike_once(fault_dir, {"run_id": run_id, "written": [k for k, _ in first]})
        os.kill(os.getpid(), signal.SIGKILL)

    MLflowTrialCallback._log_final = _log_final


def kill_driver_in_log_model(fault_dir: Path) -> None:
    import distser.inference

    original = distser.inference.log_model

    def log_model(bundle, *, run_id, **kwargs):
        info = original(bundle, run_id=run_id, **kwargs)
        _strike_once(fault_dir, {"run_id": run_id, "model": kwargs.get("registered_model_name"),
                                 "version": str(getattr(info, "registered_model_version", None))})
        os.kill(os.getpid(), signal.SIGKILL)

    distser.inference.log_model = log_model


def interrupt_driver_at_final_result(fault_dir: Path) -> None:
    from distser.search._tracking import MLflowTrialCallback

    original = MLflowTrialCallback.on_checkpoint

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        original(self, iteration, trials, trial, checkpoint, **info)
        if (trial.last_result or {}).get("finished") == 1 and _strike_once(
                fault_dir, {"trial_id": trial.trial_id, "run_id": self._run_id(trial)}):
            os.kill(os.getpid(), signal.SIGINT)

    MLflowTrialCallback.on_checkpoint = on_checkpoint


FAULTS = {"kill-worker-node-at-final-report": kill_worker_node_at_final_report,
          "kill-driver-in-log-final": kill_driver_in_log_final,
          "kill-driver-in-log-model": kill_driver_in_log_model,
          "interrupt-driver-at-final-result": interrupt_driver_at_final_result}


def main(argv: list[str]) -> int:
    fault, fault_dir, separator, *args = argv
    assert separator == "--" and fault in FAULTS, f"usage: {__doc__}"
    FAULTS[fault](Path(fault_dir).resolve())
    from distser.search import main as search

    return search(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
