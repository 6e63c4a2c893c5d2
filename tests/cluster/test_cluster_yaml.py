"""cluster.yaml and its cloud variant validate against Ray's cluster-launcher schema."""

from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-aws.yaml"])
def test_config_validates_against_ray_schema(name):
    config = yaml.safe_load((PROJECT / name).read_text())
    validate_config(prepare_config(config))


def test_local_cluster_keeps_auth_on_and_dashboards_local():
    config = yaml.safe_load((PROJECT / "cluster.yaml").read_text())
    assert config["provider"]["type"] == "local"
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in workers
    assert "--dashboard-host=127.0.0.1" in head
    assert "mlflow server --host 127.0.0.1" in head and "sqlite:///" in head
    assert "~/.ray/auth_token" in config["file_mounts"]


def test_broken_config_is_rejected():
    config = yaml.safe_load((PROJECT / "cluster.yaml").read_text())
    config["provider"] = {"head_ip": "1.2.3.4"}  # no provider type
    with pytest.raises(Exception, match="type"):
        validate_config(prepare_config(config))
