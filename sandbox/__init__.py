"""The runtime: catalog, vault, workspace, jobs, review, release, audit, API and CLI."""

__version__ = "0.1.0"
