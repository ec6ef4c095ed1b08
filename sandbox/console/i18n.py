"""The console's two languages: one flat YAML message catalogue per language, no gettext build.

Chinese is the default; a cookie set by the language switch picks English. A missing key shows the
key itself (a test keeps both catalogues and every key the templates use in step).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import yaml

LANGUAGES = ("zh", "en")
DEFAULT = "zh"


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("sandbox.console").joinpath(f"messages/{lang}.yaml").read_text(encoding="utf-8")
    return {str(k): str(v) for k, v in (yaml.safe_load(text) or {}).items()}


def pick(value: str | None) -> str:
    return value if value in LANGUAGES else DEFAULT


def translator(lang: str) -> Callable[..., str]:
    messages = catalogue(pick(lang))

    def t(key: str, **fields: Any) -> str:
        text = messages.get(key, key)
        return text.format(**fields) if fields else text

    return t
