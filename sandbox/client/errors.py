"""The one exception the client raises: the API's stable error code, message and detail."""

from __future__ import annotations

from typing import Any

import httpx


class SandboxAPIError(Exception):
    """An error answer (`{"error": {code, message, detail}}`) or a client-side failure (status 0).

    Client-side codes: `connection_failed`, `wait_timeout`, `checksum_mismatch`, `bad_response`.
    """

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    @property
    def reasons(self) -> list[dict[str, Any]]:
        """The gate's reasons (code, construct, position {line, column}, message, hint); [] otherwise."""
        if isinstance(self.detail, dict) and isinstance(self.detail.get("reasons"), list):
            return list(self.detail["reasons"])
        return []

    @property
    def job_id(self) -> str | None:
        """The job kept for the record when the gate refused a submission."""
        return self.detail.get("job_id") if isinstance(self.detail, dict) else None

    def body(self) -> dict[str, Any]:
        """The error as the API returns it (what `--json` prints)."""
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}

    @classmethod
    def from_response(cls, resp: httpx.Response) -> SandboxAPIError:
        try:
            error = resp.json()["error"]
            return cls(resp.status_code, str(error["code"]), str(error["message"]), error.get("detail"))
        except (ValueError, KeyError, TypeError):
            return cls(resp.status_code, "bad_response", f"HTTP {resp.status_code} without an error body")


def check(resp: httpx.Response) -> httpx.Response:
    """Raise SandboxAPIError for any non-2xx answer."""
    if resp.is_success:
        return resp
    resp.read()
    raise SandboxAPIError.from_response(resp)
