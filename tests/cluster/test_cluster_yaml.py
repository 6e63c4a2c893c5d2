"""cluster.yaml and its cloud variant: Ray's schema, and what keeps the cluster closed.

Each check is a function that returns what is wrong; the tests run it on the shipped files and on a
broken variant, so a check that can no longer see the problem fails too.
"""

import contextlib
import json
import os
import re
import shlex
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

PROJECT = Path(__file__).resolve().parents[2]
CONFIGS = ["cluster.yaml", "cluster-aws.yaml"]
AWS_DOCS = PROJECT / "docs" / "aws"


def _config(name: str) -> dict:
    return yaml.safe_load((PROJECT / name).read_text())


def _policy(name: str) -> dict:
    return json.loads((AWS_DOCS / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_config_validates_against_ray_schema(name):
    validate_config(prepare_config(_config(name)))


def test_broken_config_is_rejected():
    config = _config("cluster.yaml")
    config["provider"] = {"head_ip": "1.2.3.4"}  # no provider type
    with pytest.raises(Exception, match="type"):
        validate_config(prepare_config(config))


def test_local_cluster_keeps_auth_on_and_dashboards_local():
    config = _config("cluster.yaml")
    assert config["provider"]["type"] == "local"
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in workers
    assert "--dashboard-host=127.0.0.1" in head
    assert "sqlite:///" in head
    assert "~/.ray/auth_token" in config["file_mounts"]


# --- MLflow behind its basic-auth app ---------------------------------------------------------------

def _mlflow_commands(config: dict) -> list[str]:
    """The head's commands from the MLflow credentials on (the Ray ones come first)."""
    commands = config["head_start_ray_commands"]
    first = next(i for i, c in enumerate(commands) if ".distser" in c)
    return commands[first:]


def _mlflow_server_problems(config: dict) -> list[str]:
    servers = [c for c in config["head_start_ray_commands"] if "mlflow server" in c]
    if len(servers) != 1:
        return [f"{len(servers)} commands start an MLflow server, expected 1"]
    words = shlex.split(servers[0].replace("(", " ").replace(")", " "))
    server = words[words.index("server"):]

    def option(name: str) -> str | None:
        return server[server.index(name) + 1] if name in server else None

    problems = []
    if option("--app-name") != "basic-auth":
        problems.append(f"--app-name is {option('--app-name')!r}, not 'basic-auth'")
    if option("--host") != "127.0.0.1":
        problems.append(f"--host is {option('--host')!r}, not 127.0.0.1")
    if not any(w.startswith("MLFLOW_AUTH_CONFIG_PATH=") for w in words):
        problems.append("MLFLOW_AUTH_CONFIG_PATH is not set: the auth app would use its packaged ini")
    if ". ~/.distser/mlflow-server.env" not in servers[0]:
        problems.append("the server does not source its secrets (admin password, Flask key)")
    return problems


@pytest.mark.parametrize("name", CONFIGS)
def test_mlflow_server_runs_behind_basic_auth_on_loopback(name):
    config = _config(name)
    assert _mlflow_server_problems(config) == []
    open_server = _config(name)
    open_server["head_start_ray_commands"] = [
        c.replace("--app-name basic-auth ", "").replace("127.0.0.1 --port", "0.0.0.0 --port")
        for c in open_server["head_start_ray_commands"]]
    assert len(_mlflow_server_problems(open_server)) == 2


def test_both_configs_set_up_mlflow_the_same_way():
    assert _mlflow_commands(_config("cluster.yaml")) == _mlflow_commands(_config("cluster-aws.yaml"))


# A value after password/secret (key), other than a shell variable or a printf slot.
SECRET_LITERAL = re.compile(r"(?i)(password|secret[_ ]?key)\w*\s*[=:]\s*(?![$%\"]|\s)\S+")


def _secret_literals(text: str) -> list[str]:
    return [m.group(0) for m in SECRET_LITERAL.finditer(text)]


@pytest.mark.parametrize("name", CONFIGS)
def test_no_secret_in_config(name):
    text = (PROJECT / name).read_text()
    assert _secret_literals(text) == []
    assert "admin_password" not in text
    assert _secret_literals(text + "\n    admin_password = hunter2hunter2\n")
    assert _secret_literals(text.replace('"MLFLOW_TRACKING_PASSWORD=$pw"', "MLFLOW_TRACKING_PASSWORD=s3cret-s3cret"))


def _run_on_fake_head(commands: list[str], home: Path) -> None:
    for command in commands:
        subprocess.run(["bash", "-c", command], env={"HOME": str(home), "PATH": os.environ["PATH"]}, check=True,
                       timeout=30)


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    assert all(line.startswith("export ") for line in lines), lines
    return dict(line.removeprefix("export ").split("=", 1) for line in lines)


def test_head_makes_mlflow_secrets_once_and_private(tmp_path):
    """The credential and auth-ini commands of cluster.yaml, run with HOME in a temporary folder."""
    setup = [c for c in _mlflow_commands(_config("cluster.yaml")) if "mlflow.pid" not in c]
    _run_on_fake_head(setup, tmp_path)
    secrets, mlflow_dir = tmp_path / ".distser", tmp_path / "distser-mlflow"
    for folder in (secrets, mlflow_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = {p.name: p for p in secrets.iterdir()}
    assert set(files) == {"mlflow-credentials", "mlflow.env", "mlflow-server.env"}
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    client = _env_file(files["mlflow.env"])
    server = _env_file(files["mlflow-server.env"])
    password = client["MLFLOW_TRACKING_PASSWORD"]
    assert client["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000" and client["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert len(password) >= 24 and re.fullmatch(r"[A-Za-z0-9_-]+", password)
    assert server["MLFLOW_AUTH_ADMIN_PASSWORD"] == password
    assert len(server["MLFLOW_FLASK_SERVER_SECRET_KEY"]) == 64
    assert files["mlflow-credentials"].read_text() == f"username: admin\npassword: {password}\n"
    ini = (mlflow_dir / "basic_auth.ini").read_text()
    assert f"database_uri = sqlite:///{mlflow_dir}/basic_auth.db" in ini and "admin_username = admin" in ini
    assert "default_permission = NO_PERMISSIONS" in ini and password not in ini
    # As the server reads it. Logins are cached: without that, the server hashes the password of every request
    # a search sends (scrypt, ~0.1 s of CPU each).
    from mlflow.server.auth.config import read_auth_config

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(mlflow_dir / "basic_auth.ini"))
        patch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
        read = read_auth_config()
    assert (read.default_permission, read.admin_username, read.admin_password) == ("NO_PERMISSIONS", "admin", None)
    assert read.auth_cache_ttl_seconds > 0

    # A second `ray up` keeps the password: the auth DB's admin was made with it.
    (mlflow_dir / "basic_auth.db").write_text("users")
    _run_on_fake_head(setup, tmp_path)
    assert _env_file(files["mlflow.env"])["MLFLOW_TRACKING_PASSWORD"] == password
    assert (mlflow_dir / "basic_auth.db").exists()
    # Secrets gone: new ones, and the auth DB whose admin password nobody knows moves aside.
    for path in files.values():
        path.unlink()
    _run_on_fake_head(setup, tmp_path)
    assert _env_file(files["mlflow.env"])["MLFLOW_TRACKING_PASSWORD"] != password
    assert not (mlflow_dir / "basic_auth.db").exists() and (mlflow_dir / "basic_auth.db.orphaned").exists()


@pytest.mark.parametrize("name", CONFIGS)
def test_the_mlflow_server_is_stopped_by_the_pid_it_recorded_not_by_a_pattern(name, tmp_path):
    """A second `ray up` stops the server the first one started (its whole session) and nothing else."""
    commands = _mlflow_commands(_config(name))
    assert not [c for c in commands if "pkill" in c or "killall" in c]
    fake = tmp_path / "distser" / ".venv" / "bin" / "mlflow"  # a server with a worker process, like uvicorn's
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/bash\nsleep 300 &\nwait\n")
    fake.chmod(0o755)
    bystander = subprocess.Popen(["bash", "-c", "exec -a 'mlflow server --port 5001' sleep 300"])  # another's server
    pid_file, started = tmp_path / "distser-mlflow" / "mlflow.pid", []
    try:
        _run_on_fake_head(commands, tmp_path)  # the first `ray up`: secrets, ini, no server to stop, start
        started.append(int(pid_file.read_text()))
        first = started[0]
        deadline = time.monotonic() + 10  # the recorded pid is the background job's: it runs setsid and mlflow soon
        while not (os.getpgid(first) == first and "mlflow" in Path(f"/proc/{first}/cmdline").read_text()):
            assert time.monotonic() < deadline, (tmp_path / "distser-mlflow" / "mlflow.log").read_text()
            time.sleep(0.05)
        _run_on_fake_head(commands, tmp_path)  # the second: stops the first, starts a new one
        started.append(int(pid_file.read_text()))
        assert started[1] != first
        assert subprocess.run(["pgrep", "-g", str(first)], capture_output=True).stdout == b""  # worker gone too
        assert bystander.poll() is None  # a pattern match would have killed it
    finally:
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        bystander.kill()
        bystander.wait()


# --- AWS: SSH ingress and instance profiles ------------------------------------------------------------

PLACEHOLDER_CIDR = re.compile(r"YOUR_[A-Z_]+/\d{1,3}")


def _ssh_ingress_problems(config: dict, rules: list[dict]) -> list[str]:
    problems = []
    if "security_group" in config["provider"]:
        problems.append("provider.security_group: Ray's own group always adds SSH from 0.0.0.0/0")
    for name, node_type in config["available_node_types"].items():
        if not node_type["node_config"].get("SecurityGroupIds"):
            problems.append(f"{name}: no SecurityGroupIds, so Ray makes its group with SSH open to 0.0.0.0/0")
    ssh = [r for r in rules
           if r.get("IpProtocol") in ("-1", "all") or r.get("FromPort", 0) <= 22 <= r.get("ToPort", -1)]
    if not ssh:
        problems.append("no SSH rule")
    for rule in ssh:
        cidrs = [r["CidrIp"] for r in rule.get("IpRanges", [])] + [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
        for cidr in cidrs:
            if not PLACEHOLDER_CIDR.fullmatch(cidr):
                problems.append(f"SSH open to {cidr}, not to a placeholder for your address")
    return problems


def test_aws_ssh_ingress_only_from_your_address():
    config, rules = _config("cluster-aws.yaml"), json.loads((AWS_DOCS / "ssh-ingress.json").read_text())
    assert _ssh_ingress_problems(config, rules) == []
    assert _ssh_ingress_problems(config, [{**rules[0], "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    default_group = _config("cluster-aws.yaml")
    del default_group["available_node_types"]["worker"]["node_config"]["SecurityGroupIds"]
    assert _ssh_ingress_problems(default_group, rules)
    # The security group the docs have you create is the one the config names.
    groups = {tuple(t["node_config"]["SecurityGroupIds"]) for t in config["available_node_types"].values()}
    assert groups == {("SECURITY_GROUP_ID",)}
    assert '-e "s/SECURITY_GROUP_ID/$SG_ID/g"' in (PROJECT / "docs" / "cluster.md").read_text()


def test_aws_head_and_workers_have_their_own_instance_profiles():
    config = _config("cluster-aws.yaml")
    profiles = {name: t["node_config"].get("IamInstanceProfile", {}).get("Arn")
                for name, t in config["available_node_types"].items()}
    assert profiles == {
        "head": "arn:aws:iam::ACCOUNT_ID:instance-profile/distser-head",
        "worker": "arn:aws:iam::ACCOUNT_ID:instance-profile/distser-worker",
    }
    docs = (PROJECT / "docs" / "cluster.md").read_text()
    assert "--instance-profile-name distser-$node" in docs and "for node in head worker" in docs


# --- AWS: the IAM policies -------------------------------------------------------------------------------

POLICIES = ["head-policy.json", "worker-policy.json"]


def _statements(policy: dict) -> list[dict]:
    statements = policy["Statement"]
    for s in statements:
        s["Action"] = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        s["Resource"] = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
    return statements


def _s3_scope_problems(policy: dict) -> list[str]:
    problems = []
    for s in _statements(policy):
        if s["Effect"] != "Allow" or not any(a.lower().startswith("s3:") or a == "*" for a in s["Action"]):
            continue
        if any("*" in a for a in s["Action"]):
            problems.append(f"{s.get('Sid')}: wildcard action {s['Action']}")
        for resource in s["Resource"]:
            if resource != "arn:aws:s3:::BUCKET" and not resource.startswith("arn:aws:s3:::BUCKET/"):
                problems.append(f"{s.get('Sid')}: S3 on {resource}, not only on the BUCKET placeholder")
    return problems


@pytest.mark.parametrize("name", POLICIES)
def test_policy_grants_s3_only_on_the_bucket(name):
    policy = _policy(name)
    assert policy["Version"] == "2012-10-17"
    assert _s3_scope_problems(policy) == []
    actions = {a for s in _statements(policy) for a in s["Action"] if a.startswith("s3:")}
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= actions
    assert _s3_scope_problems({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    assert _s3_scope_problems({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})


def test_worker_policy_grants_nothing_but_s3():
    actions = [a for s in _statements(_policy("worker-policy.json")) for a in s["Action"]]
    assert actions and all(a.startswith("s3:") for a in actions), actions


def test_head_policy_passes_only_the_worker_role_and_ends_only_this_cluster():
    statements = _statements(_policy("head-policy.json"))
    iam = [s for s in statements if any(a.startswith("iam:") for a in s["Action"])]
    assert [s["Action"] for s in iam] == [["iam:PassRole"]]
    assert iam[0]["Resource"] == ["arn:aws:iam::ACCOUNT_ID:role/distser-worker"]
    assert set(a.split(":")[0] for s in statements for a in s["Action"]) == {"ec2", "iam", "s3"}
    cluster = _config("cluster-aws.yaml")["cluster_name"]
    for s in statements:
        if {"ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances"} & set(s["Action"]):
            assert s["Condition"] == {"StringEquals": {"aws:ResourceTag/ray-cluster-name": cluster}}, s


def test_trust_policy_lets_only_ec2_assume_the_roles():
    (statement,) = _policy("ec2-trust-policy.json")["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}


def test_head_launches_only_this_clusters_workers_in_its_region_with_the_worker_profile():
    config = _config("cluster-aws.yaml")
    region, cluster = config["provider"]["region"], config["cluster_name"]
    worker = config["available_node_types"]["worker"]["node_config"]
    launches = [s for s in _statements(_policy("head-policy.json")) if "ec2:RunInstances" in s["Action"]]
    assert launches and all(s["Action"] == ["ec2:RunInstances"] for s in launches)
    assert all(r != "*" and f":{region}:" in r for s in launches for r in s["Resource"]), launches
    assert all(s["Condition"]["StringEquals"]["aws:RequestedRegion"] == region for s in launches)
    (instances,) = [s for s in launches if any(":instance/" in r for r in s["Resource"])]
    assert instances["Condition"]["StringEquals"] == {
        "aws:RequestedRegion": region, "aws:RequestTag/ray-cluster-name": cluster,
        "ec2:InstanceProfile": worker["IamInstanceProfile"]["Arn"]}
    resources = {r for s in launches for r in s["Resource"]}
    assert f"arn:aws:ec2:{region}::image/{worker['ImageId']}" in resources
    assert f"arn:aws:ec2:{region}:ACCOUNT_ID:security-group/{worker['SecurityGroupIds'][0]}" in resources
    assert '-e "s/SECURITY_GROUP_ID/$SG_ID/g"' in (PROJECT / "docs" / "cluster.md").read_text().split(
        "for node in head worker")[1].split("done")[0]  # the policy is filled in after the group exists
