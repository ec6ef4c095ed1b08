"""Types the tests share, in a plain module: several directories have a conftest.py, so
`from conftest import X` would find whichever conftest was imported first."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from sandbox.settings import Settings


@dataclass
class Stack:
    """A running server and one client per role (plus a second operator and an operator-reviewer)."""

    url: str
    settings: Settings
    clients: dict[str, httpx.Client]
    user_ids: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)  # name -> bearer token (for sandbox.client / CLI)

    def __getitem__(self, who: str) -> httpx.Client:
        return self.clients[who]
