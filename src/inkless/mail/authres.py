"""Authentication-Results (RFC 8601) written by a trusted upstream MTA."""

from __future__ import annotations

import re
from collections.abc import Iterable

_RESULT = re.compile(r"\b(dkim|spf)\s*=\s*([a-z]+)\b", re.IGNORECASE)


def trusted_results(values: Iterable[str], authserv_id: str) -> list[tuple[str, str]]:
    """(method, result) pairs from the headers whose authserv-id is the trusted one."""
    results = []
    for value in values:
        if value.split(";", 1)[0].strip().lower() == authserv_id.lower():
            results += [(m.group(1).lower(), m.group(2).lower()) for m in _RESULT.finditer(value)]
    return results


def failed(values: Iterable[str], authserv_id: str) -> str | None:
    """The first dkim/spf failure the trusted server reported, as `method=result`."""
    for method, result in trusted_results(values, authserv_id):
        if result in ("fail", "permerror"):
            return f"{method}={result}"
    return None


def passed(values: Iterable[str], authserv_id: str) -> bool:
    """Whether the trusted server saw dkim=pass or spf=pass."""
    return any(result == "pass" for _, result in trusted_results(values, authserv_id))
