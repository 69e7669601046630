"""What a running controller serves over HTTP: every series the chart's Grafana dashboard
queries, and with --enable-pprof the debug pages on their own address.

A unit test holds the dashboard against the metric registry as the code declares it; this one holds
it against ``/metrics`` of a real process after a reload, so a series that exists only once
something happened (a histogram's buckets, client-go's ``rest_client_*`` with their labels) is
checked as Prometheus would scrape it. client-go's label names are checked too, since Reloader's
own dashboards group by them.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess, _free_port
from tests.integration.reload_support import (
    cm_env_from,
    container,
    make_configmap,
    make_workload,
    update_configmap,
    wait_metric_increase,
)

DASHBOARD = Path(__file__).resolve().parents[2] / "chart" / "dashboards" / "reloader.json"
EXECUTED = ("reloader_reload_executed_total", {"success": "true"})
PPROF_PORT = _free_port()
CONTROLLER_ARGS = ["--enable-pprof", f"--pprof-addr=127.0.0.1:{PPROF_PORT}"]


def _dashboard_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]
    return {m for e in exprs for m in re.findall(r"\b((?:reloader|rest_client|process)_\w+)", e)}


def _exported(text: str) -> dict[str, set[str]]:
    """Series name → the label names seen on it, as scraped."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series = line.rpartition(" ")[0]
        name, _, labels = series.partition("{")
        out.setdefault(name, set()).update(re.findall(r'(\w+)="', labels))
    return out


async def test_every_dashboard_series_is_exported_after_a_reload(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    before = controller.metric(*EXECUTED)
    await update_configmap(kube, namespace, "app-config", {"k": "2"})
    await wait_metric_increase(controller, *EXECUTED, before)

    status, text = controller.get("/metrics")
    assert status == 200
    exported = _exported(text)
    missing = sorted(_dashboard_metrics() - exported.keys())
    assert missing == [], f"the dashboard queries series reloader does not export: {missing}"
    assert {"code", "method", "host"} <= exported["rest_client_requests_total"]
    assert {"verb", "host", "le"} <= exported["rest_client_request_duration_seconds_bucket"]


def _debug_page(path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{PPROF_PORT}{path}", timeout=10) as resp:
        assert resp.status == 200
        return str(resp.read().decode())


def test_debug_pages_show_the_controllers_tasks(controller: ControllerProcess) -> None:
    assert controller.get("/debug/pprof/tasks")[0] == 404  # never on the metrics port
    tasks = _debug_page("/debug/pprof/tasks")
    assert re.match(r"\d+ tasks\n", tasks)
    assert "/reloader/" in tasks  # stacks of the controller's own coroutines
    assert "MainThread" in _debug_page("/debug/pprof/threads")
    assert "top types by count:" in _debug_page("/debug/pprof/heap")
    assert any(e.get("event") == "controller.debug_endpoints" for e in controller.logs())
