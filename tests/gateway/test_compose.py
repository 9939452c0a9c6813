"""docker-compose.yml (validated by Debian's docker-compose; no container engine runs here), its HAProxy and
Prometheus configs (validated by the real haproxy and promtool), and the config `phiwall gateway` writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from phiwall.gateway import haproxy_config

from tests.gateway.conftest import need
from tests.support.proxy import REPO

COMPOSE = REPO / "docker-compose.yml"


def test_compose_config_is_valid() -> None:
    exe = need("docker-compose")
    r = subprocess.run([exe, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_compose_topology_auth_health_and_writable_volumes() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    svc = doc["services"]
    assert {"haproxy", "phiwall", "redis", "prometheus", "ca-init"} <= set(svc)
    cmd = svc["phiwall"]["command"]
    assert "--htpasswd" in cmd, "auth must be on: never an open proxy"
    assert cmd[cmd.index("--state") + 1].startswith("redis://redis:")
    admin = cmd[cmd.index("--admin-port") + 1]
    assert svc["phiwall"]["deploy"]["replicas"] >= 2
    assert "PHIWALL_SECRET_FILE" in svc["phiwall"]["environment"]  # one secret for every replica
    for name in ("phiwall", "haproxy", "redis", "prometheus"):
        assert "healthcheck" in svc[name], f"{name} has no healthcheck"
    assert "phiwall" not in {p.split(":")[0] for p in svc["phiwall"].get("ports", [])}
    assert "ports" not in svc["phiwall"] and "ports" not in svc["redis"]  # only HAProxy and Prometheus published
    assert "noeviction" in svc["redis"]["command"]
    prom = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["dns_sd_configs"][0]["port"] == int(admin)
    assert f"check port {admin}" in (REPO / "deploy" / "haproxy.cfg").read_text()
    dockerfile = (REPO / "proxy" / "Dockerfile").read_text()
    assert "chown 1000:1000 /data /audit" in dockerfile and "USER 1000:1000" in dockerfile


def test_deploy_haproxy_and_prometheus_configs_are_valid() -> None:
    r = subprocess.run([need("haproxy"), "-c", "-f", str(REPO / "deploy" / "haproxy.cfg")], capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    promtool = need("promtool")
    r = subprocess.run([promtool, "check", "config", str(REPO / "deploy" / "prometheus.yml")], capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_gateway_haproxy_config_is_valid(tmp_path: Path) -> None:
    cfg = tmp_path / "h.cfg"
    cfg.write_text(haproxy_config("127.0.0.1", 18080, [(18081, 19081), (18082, 19082)], stats_port=18090))
    r = subprocess.run([need("haproxy"), "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    text = cfg.read_text()
    assert "mode tcp" in text and "option httpchk GET /readyz" in text and text.count("check port") == 2


@pytest.mark.parametrize(
    "extra,problem",
    [
        ([], None),
        (["--", "--trusted-proxies", "10.0.0.0/8"], "trusted-proxies"),
    ],
)
def test_gateway_refusals_on_loopback(extra: list[str], problem: str | None) -> None:
    from phiwall.gateway import gateway_problem

    why = gateway_problem("127.0.0.1", extra)
    assert (why is None) if problem is None else (problem in (why or ""))


def test_gateway_on_a_routable_address_needs_auth() -> None:
    from phiwall.gateway import gateway_problem

    assert "open proxy" in (gateway_problem("0.0.0.0", []) or "")
    assert gateway_problem("0.0.0.0", ["--", "--htpasswd", "/etc/htpasswd"]) is None
