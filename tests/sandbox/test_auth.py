"""The per-process token cache: a rotated or revoked token is refused from the next request, also
when another process (another Runtime on the same catalog) made the change."""

from __future__ import annotations

import pytest

from sandbox import users
from sandbox.auth import Role, TokenCache, add_user
from sandbox.errors import ErrorCode, SandboxError
from sandbox.product_cache import generation
from sandbox.revocation import revoke_user
from sandbox.runtime import Runtime
from sandbox.settings import Settings


def _who(rt: Runtime, token: str) -> str:
    with rt.catalog.reading() as s:
        return rt.tokens.user(s, token)[0].id


def _refused(rt: Runtime, token: str) -> None:
    with pytest.raises(SandboxError) as e, rt.catalog.reading() as s:
        rt.tokens.user(s, token)
    assert e.value.code is ErrorCode.unauthenticated


def test_a_token_is_read_once_per_generation(settings: Settings) -> None:
    rt = Runtime(settings)
    try:
        with rt.catalog.session() as s:
            user, token = add_user(s, "op", [Role.operator], "unit")
        with rt.catalog.reading() as s:
            first, gen = rt.tokens.user(s, token)
            again, gen_again = rt.tokens.user(s, token)
            assert (first.id, gen) == (user.id, generation(s))
        assert again is first and gen_again == gen  # the kept snapshot, not a second read
        _refused(rt, "sbx_not-a-token")
        _refused(rt, "")
    finally:
        rt.close()


def test_rotation_and_revocation_in_another_runtime_refuse_the_cached_token(settings: Settings) -> None:
    api, admin = Runtime(settings), Runtime(settings, migrate=False)  # two processes, one catalog
    try:
        with api.catalog.session() as s:
            user, token = add_user(s, "op", [Role.operator], "unit")
            other, other_token = add_user(s, "op2", [Role.operator], "unit")
        assert _who(api, token) == user.id and _who(api, other_token) == other.id  # both kept
        new_token = users.rotate(admin, None, user.id).token
        _refused(api, token)
        assert _who(api, new_token) == user.id
        revoke_user(admin, None, other.id, "left")
        _refused(api, other_token)
    finally:
        admin.close()
        api.close()


def test_the_cache_is_bounded(settings: Settings) -> None:
    rt = Runtime(settings)
    try:
        rt.tokens = TokenCache(size=2)
        with rt.catalog.session() as s:
            made = [add_user(s, f"op{i}", [Role.operator], "unit") for i in range(3)]
        for user, token in made:
            assert _who(rt, token) == user.id
        assert len(rt.tokens._users) == 2  # the least recently used went out
        assert _who(rt, made[0][1]) == made[0][0].id  # and is read again when asked
    finally:
        rt.close()
