"""The HTTP API (v1): routers per resource over the service modules."""
