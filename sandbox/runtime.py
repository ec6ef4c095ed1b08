"""Runtime: the wired-up services one process holds (catalog, vault, bundle, analyzer, dispatcher)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from policies import bundles
from policies.bundles import Bundle
from sandbox.auth import TokenCache
from sandbox.catalog import Catalog
from sandbox.jobwatch import JobWatch
from sandbox.keys import Keyring
from sandbox.metrics import Metrics
from sandbox.product_cache import PreparedCache
from sandbox.settings import Settings
from sandbox.vault import Vault

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

    from policies.privacy.scan import Memo
    from sandbox.jobqueue import Deferrer, QueueDispatcher
    from sandbox.refresh import Refresher
    from sandbox.worker import Dispatcher
    from sandbox.workspace.warm import WarmPool


class Runtime:
    """Built once at start from Settings and passed down; no module-level state anywhere."""

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self.catalog = Catalog(settings.catalog_url())
        if migrate:
            self.catalog.migrate()
        self.metrics = Metrics(self.catalog)  # one registry per runtime, never the global default
        self.vault = Vault(settings.vault_dir, settings.tmp_dir)
        self.keyring = Keyring.load(settings.resolved_master_key_path(), settings.master_key)
        text = (
            settings.bundle_path.read_text(encoding="utf-8")
            if settings.bundle_path
            else bundles.default_text()
        )
        self.bundle: Bundle = bundles.parse(text)
        self._analyzer: AnalyzerEngine | None = None
        self._analyzer_lock = threading.Lock()
        self._scan_memo: Memo | None = None
        self.dispatcher: Dispatcher | QueueDispatcher | None = None
        self._deferrer: Deferrer | None = None
        self.refresher: Refresher | None = None
        self._warm_pool: WarmPool | None = None
        self._warm_lock = threading.Lock()
        self.job_watch = JobWatch(self.catalog)  # the API's long polls (sandbox/jobwatch.py)
        self.product_cache = PreparedCache()  # what product calls reuse (sandbox/product_cache.py)
        self.tokens = TokenCache()  # who each bearer token is, at the catalog's generation

    def job_changed(self) -> None:
        """Wake requests waiting on a job's state (long polls); called after each commit."""
        self.job_watch.nudge()

    def scan_memo(self) -> Memo:
        """The output PII scan's answers per text, for this runtime's analyzer (made on first use)."""
        with self._analyzer_lock:
            if self._scan_memo is None:
                from policies.privacy.scan import Memo

                self._scan_memo = Memo()
            return self._scan_memo

    def analyzer(self) -> AnalyzerEngine:
        """Presidio over a blank spaCy pipeline on disk, built on first use (about a second)."""
        with self._analyzer_lock:
            if self._analyzer is None:
                from sandbox.pii import build_analyzer

                self._analyzer = build_analyzer(self.settings.nlp_dir)
            return self._analyzer

    def warm_pool(self) -> WarmPool:
        """Warm workspaces for product calls, made on first use; closed with the runtime."""
        with self._warm_lock:
            if self._warm_pool is None:
                from sandbox.workspace.runner import limits_of
                from sandbox.workspace.warm import WarmPool

                s = self.settings
                self._warm_pool = WarmPool(
                    s.workspace_backend,
                    dataclasses.replace(limits_of(s), cache_mb=s.warm_cache_mb),
                    s.tmp_dir / "warm",
                    per_key=s.warm_per_key,
                    idle_s=s.warm_idle_s,
                    max_workspaces=s.warm_max_workspaces,
                    max_calls=s.warm_max_calls,
                    wait_s=s.warm_wait_s,
                )
            return self._warm_pool

    def evict_warm(self, key_prefix: str = "", files_under: Path | None = None) -> None:
        """Retire warm workspaces (`WarmPool.evict`) without starting a pool only to empty it."""
        with self._warm_lock:
            pool = self._warm_pool
        if pool is not None:
            pool.evict(key_prefix, files_under)

    def start_dispatcher(self) -> Dispatcher | QueueDispatcher:
        """Run jobs in this process: the dispatcher, or a queue worker when jobs go through the queue."""
        if self.dispatcher is None:
            if self.settings.uses_queue():
                from sandbox.jobqueue import QueueDispatcher

                self.dispatcher = QueueDispatcher(self)
            else:
                from sandbox.worker import Dispatcher

                self.dispatcher = Dispatcher(self)
            self.dispatcher.start()
        if self.refresher is None and self.settings.refresh_poll_s > 0:
            from sandbox.refresh import Refresher

            self.refresher = Refresher(self, self.settings.refresh_poll_s)
            self.refresher.start()
        return self.dispatcher

    def notify(self, job_id: str | None = None) -> None:
        """A job was queued (committed): defer its queue task, or wake the in-process dispatcher."""
        if job_id is not None and self.settings.uses_queue():
            if self._deferrer is None:
                from sandbox.jobqueue import Deferrer

                self._deferrer = Deferrer(self.settings.catalog_url())
            self._deferrer.defer(job_id)
        elif self.dispatcher is not None:
            self.dispatcher.wake()

    def close(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()
            self.refresher = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        if self._deferrer is not None:
            self._deferrer.close()
            self._deferrer = None
        with self._warm_lock:
            if self._warm_pool is not None:
                self._warm_pool.close()
                self._warm_pool = None
        self.catalog.dispose()
