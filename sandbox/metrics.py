"""Prometheus metrics and readiness: what an operator of the deployment watches.

One `CollectorRegistry` per Runtime (never the client's global default registry, so two apps in one
process, as in the tests, do not share counters). Counts that every process must agree on (jobs by
state, gate rejections by code, budget spent) are read from the catalog at scrape time, so any API
replica reports the same numbers whichever worker ran the jobs; job latency is a histogram of the
jobs this process ran (each `sandbox worker` can expose its own with `--metrics-port`).
Nothing here carries a value of a dataset: states, codes, dataset ids and sums of privacy spend.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from sandbox.catalog import Catalog, at_head
from sandbox.catalog.models import Job, PrivacyTotal

if TYPE_CHECKING:
    from sandbox.runtime import Runtime
    from sandbox.settings import Settings

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
EPSILON_UNIT, DELTA_UNIT = 1e-9, 1e-18  # as in sandbox.ledger


class CatalogCollector(Collector):
    """Gauges and counters computed from the catalog on each scrape."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("sandbox_catalog_up", "1 when the catalog answered this scrape.")
        try:
            families = self._families()
        except Exception as e:  # a scrape must still answer; only the type is logged
            log.error("metrics: catalog query failed: %s", type(e).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> list[Metric]:
        jobs = GaugeMetricFamily("sandbox_jobs", "Jobs in the catalog by state.", labels=["state"])
        rejections = CounterMetricFamily(
            "sandbox_gate_rejections", "Gate reasons on rejected jobs, by code.", labels=["code"]
        )
        epsilon = GaugeMetricFamily(
            "sandbox_budget_epsilon_spent", "Privacy budget (epsilon) spent, by dataset.", labels=["dataset"]
        )
        delta = GaugeMetricFamily(
            "sandbox_budget_delta_spent", "Privacy budget (delta) spent, by dataset.", labels=["dataset"]
        )
        with self.catalog.reading() as s:
            for state, count in s.execute(select(Job.state, func.count()).group_by(Job.state)):
                jobs.add_metric([state], count)
            codes: Counter[str] = Counter()
            for (report,) in s.execute(select(Job.gate_report).where(Job.state == "gate_rejected")):
                codes.update(str(r.get("code")) for r in report or () if isinstance(r, dict))
            for code, count in sorted(codes.items()):
                rejections.add_metric([code], count)
            spent = (func.sum(PrivacyTotal.epsilon_units), func.sum(PrivacyTotal.delta_units))
            totals = select(PrivacyTotal.dataset_id, *spent).group_by(PrivacyTotal.dataset_id)
            for dataset_id, eps_units, delta_units in s.execute(totals):
                epsilon.add_metric([dataset_id], int(eps_units or 0) * EPSILON_UNIT)
                delta.add_metric([dataset_id], int(delta_units or 0) * DELTA_UNIT)
        return [jobs, rejections, epsilon, delta]


class Metrics:
    """The registry of one Runtime and the instruments code observes directly."""

    def __init__(self, catalog: Catalog) -> None:
        self.registry = CollectorRegistry()
        self.job_latency = Histogram(
            "sandbox_job_latency_seconds",
            "Seconds from submission until a job run in this process left the running states.",
            labelnames=["state"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(CatalogCollector(catalog))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class Readiness:
    ok: bool
    checks: dict[str, str]


def readiness(rt: Runtime) -> Readiness:
    """Catalog reachable, schema at the newest migration, workspace backend usable."""
    checks: dict[str, str] = {}
    try:
        with rt.catalog.read_engine.connect() as conn:  # a probe never waits for the write lock
            conn.execute(text("SELECT 1"))
            checks["catalog"] = "ok"
            checks["migrations"] = "ok" if at_head(conn) else "behind"
    except Exception as e:
        log.error("readiness: catalog unreachable: %s", type(e).__name__)
        checks.setdefault("catalog", "unreachable")
        checks.setdefault("migrations", "unknown")
    checks["workspace"] = workspace_check(rt.settings.workspace_backend, rt.settings)
    return Readiness(all(v == "ok" or v.startswith("ok:") for v in checks.values()), checks)


def workspace_check(backend: str, settings: Settings | None = None) -> str:
    """'ok', 'ok: process (namespaces refused)' for the logged fallback, or why it cannot run."""
    if backend in ("process", "inprocess"):
        return "ok"
    if backend == "namespace":
        from sandbox.workspace import namespace

        return "ok" if namespace.usable() else "ok: process (namespaces refused)"
    if backend == "docker":
        from sandbox.workspace import container

        return "ok" if container.usable(container.config_of(settings)) else "docker engine unreachable"
    return "unknown backend"
