"""Runtime: the wired-up services one process holds (catalog, vault, bundle, analyzer, dispatcher)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from policies import bundles
from policies.bundles import Bundle
from sandbox.catalog import Catalog
from sandbox.keys import Keyring
from sandbox.settings import Settings
from sandbox.vault import Vault

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

    from sandbox.refresh import Refresher
    from sandbox.worker import Dispatcher


class Runtime:
    """Built once at start from Settings and passed down; no module-level state anywhere."""

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self.catalog = Catalog(settings.catalog_url())
        if migrate:
            self.catalog.migrate()
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
        self.dispatcher: Dispatcher | None = None
        self.refresher: Refresher | None = None
        self._job_changed = threading.Condition()

    def job_changed(self) -> None:
        """Wake requests waiting on a job's state (long polls); called after each commit."""
        with self._job_changed:
            self._job_changed.notify_all()

    def wait_job_change(self, timeout: float) -> None:
        with self._job_changed:
            self._job_changed.wait(timeout)

    def analyzer(self) -> AnalyzerEngine:
        """Presidio over a blank spaCy pipeline on disk, built on first use (about a second)."""
        with self._analyzer_lock:
            if self._analyzer is None:
                from sandbox.pii import build_analyzer

                self._analyzer = build_analyzer(self.settings.nlp_dir)
            return self._analyzer

    def start_dispatcher(self) -> Dispatcher:
        from sandbox.worker import Dispatcher

        if self.dispatcher is None:
            self.dispatcher = Dispatcher(self)
            self.dispatcher.start()
        if self.refresher is None and self.settings.refresh_poll_s > 0:
            from sandbox.refresh import Refresher

            self.refresher = Refresher(self, self.settings.refresh_poll_s)
            self.refresher.start()
        return self.dispatcher

    def notify(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def close(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()
            self.refresher = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        self.catalog.dispose()
