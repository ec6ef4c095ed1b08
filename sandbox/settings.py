"""One Settings object, built once at start and passed down. The only place the environment is read."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings; every field can be set as `SANDBOX_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    home: Path = Field(
        default=Path(".sandbox"), description="Data directory: catalog, vault, jobs, releases."
    )
    database_url: str | None = Field(
        default=None, description="Catalog database URL; default is a SQLite file in `home`."
    )
    workspace_backend: str = Field(
        default="namespace",
        description=(
            "Workspace isolation: `namespace` (own process in new user, mount, network, IPC and PID "
            "namespaces, only the granted files visible; falls back to `process` with a logged notice "
            "where Linux refuses namespaces), `docker` (a container per job through the Docker engine at "
            "`docker_url`: no network, read-only root, no capabilities, only the granted files), `process` "
            "(own process, rlimits) or `inprocess` (tests only)."
        ),
    )
    docker_url: str = Field(
        default="unix:///var/run/docker.sock",
        description="Docker engine the `docker` workspace backend talks to.",
    )
    docker_image: str = Field(
        default="sandbox-workspace",
        description=(
            "Name of the `docker` backend's workspace image, made locally on first use (its tag is a "
            "hash of its contents; nothing is pulled)."
        ),
    )
    workspace_memory_mb: int = Field(default=2048, description="DuckDB memory limit per workspace (MiB).")
    workspace_threads: int = Field(default=2, description="DuckDB threads per workspace.")
    workspace_timeout_s: float = Field(default=300.0, description="Wall-clock limit for one job's query.")
    workspace_max_rows: int = Field(
        default=100_000,
        description=(
            "Most rows a job's result may have; a larger result fails the job with `result_too_large`."
        ),
    )
    warm_per_key: int = Field(
        default=2, ge=1, description="Warm workspaces (product calls) kept at most per key, e.g. per product."
    )
    warm_max_workspaces: int = Field(
        default=16,
        ge=1,
        description="Warm workspaces open at most in all; the least recently used idle one makes room.",
    )
    warm_idle_s: float = Field(
        default=300.0, gt=0, description="A warm workspace idle this long (seconds) is closed."
    )
    warm_max_calls: int = Field(
        default=1000,
        ge=1,
        description="Calls a warm workspace serves before it is replaced (its CPU rlimit is cumulative).",
    )
    warm_cache_mb: int = Field(
        default=256,
        ge=0,
        description=(
            "A warm workspace copies each view whose vault file is at most this size (MiB) into its "
            "own memory once, so calls skip decryption; 0 turns it off."
        ),
    )
    warm_wait_s: float = Field(
        default=10.0,
        ge=0,
        description="How long a call waits for a busy warm workspace before `workspace_busy`.",
    )
    worker_threads: int = Field(default=2, description="Jobs run at once by the in-process dispatcher.")
    classify_sample_rows: int = Field(default=200, description="Values per column scanned for PII.")
    max_upload_mb: int = Field(default=2048, description="Largest accepted upload (MiB).")
    bundle_path: Path | None = Field(
        default=None, description="Policy bundle YAML; default is the shipped one."
    )
    master_key: str | None = Field(
        default=None,
        description="Master key (64 hex characters) sealing per-object keys; default: `master_key_path`.",
    )
    master_key_path: Path | None = Field(
        default=None,
        description="File holding the master key (made 0600 on first use); default `home/master.key`.",
    )
    refresh_poll_s: float = Field(
        default=60.0,
        description="How often the refresh loop looks for datasets whose source is due a re-read; 0 = never.",
    )
    registration_memory_mb: int = Field(
        default=256,
        description=(
            "DuckDB memory cap of each registration pass (profile, quality, units, ranks); it spills beyond."
        ),
    )
    source_batch_rows: int = Field(
        default=65_536,
        description="Rows fetched from a database source per batch (bounds registration memory).",
    )
    console_session_minutes: int = Field(
        default=480, ge=1, description="How long a web console sign-in lasts (minutes, absolute)."
    )
    console_cookie_secure: bool = Field(
        default=False, description="Mark the console session cookie `Secure` (set it when served over TLS)."
    )
    review_working_days: int = Field(
        default=10, ge=1, description="Working days (Mon-Fri) a reviewer has to decide on a pending output."
    )

    queue: str = Field(
        default="auto",
        description=(
            "Job queue: `auto` (procrastinate when the catalog is PostgreSQL, else embedded), `embedded` "
            "(the in-process dispatcher) or `procrastinate` (a shared PostgreSQL queue for `sandbox worker`)."
        ),
    )
    queue_heartbeat_s: float = Field(default=10.0, description="How often a queue worker says it is alive.")
    queue_stalled_s: float = Field(
        default=30.0,
        description="A worker silent this long is dead: its job is retried once, then failed `worker_lost`.",
    )
    queue_recover_s: float = Field(
        default=10.0, description="How often each queue worker looks for stalled and undeferred jobs."
    )

    def uses_queue(self) -> bool:
        """Whether jobs go through the shared procrastinate queue rather than the in-process dispatcher."""
        if self.queue == "auto":
            return self.catalog_url().startswith("postgresql")
        return self.queue == "procrastinate"

    audit_retention_days: int = Field(
        default=1827,
        ge=0,
        description="Audit events younger than this (days; default 5 years) are never purged.",
    )

    vault_encryption: bool = Field(
        default=True,
        description="Encrypt vault files at rest, one key per file of a dataset version (crypto-shredding).",
    )
    pricing_ledger_path: Path | None = Field(
        default=None,
        description="Cost ledger (YAML/JSON, docs/pricing.md) whose fee caps the public disclosure lists.",
    )

    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    def catalog_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home() / 'catalog.sqlite3'}"

    def resolved_master_key_path(self) -> Path:
        return self.master_key_path or self.resolved_home() / "master.key"

    @property
    def vault_dir(self) -> Path:
        return self.resolved_home() / "vault"

    @property
    def jobs_dir(self) -> Path:
        return self.resolved_home() / "jobs"

    @property
    def releases_dir(self) -> Path:
        return self.resolved_home() / "releases"

    @property
    def tmp_dir(self) -> Path:
        return self.resolved_home() / "tmp"

    @property
    def nlp_dir(self) -> Path:
        return self.resolved_home() / "nlp"

    def ensure_dirs(self) -> None:
        for d in (self.resolved_home(), self.vault_dir, self.jobs_dir, self.releases_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)


class ClientSettings(BaseSettings):
    """Where the client and the remote CLI commands connect: `SANDBOX_URL` and `SANDBOX_TOKEN`.

    Separate from the server's `Settings` so a client machine needs no data directory or catalog.
    """

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    url: str | None = Field(default=None, description="Base URL of the API server, e.g. `http://host:8000`.")
    token: str | None = Field(default=None, description="Bearer token of the user the client acts as.")
    timeout_s: float = Field(default=60.0, description="Seconds the client waits for one HTTP answer.")
