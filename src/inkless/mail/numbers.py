"""Document numbers (发文字号) as written in mail from outside: `京政发〔2026〕12号`, with the
year also in `[2026]`, `(2026)`, `【2026】` or full-width brackets."""

from __future__ import annotations

import re

# An organ's prefix (Chinese characters, a few letters), the year in any bracket, the serial.
_NUMBER = re.compile(
    r"(?:关于转发|关于印发|转发|印发|关于|根据|按照|依据)?(?P<prefix>[\u4e00-\u9fffA-Za-z]{1,10}?)\s*[〔\[（(【]\s*(?P<year>(?:19|20)\d\d)\s*[〕\]）)】]"
    r"\s*(?P<serial>\d{1,6})\s*号")
FIRST_LINES = 10
LINE_LIMIT = 500


def find_number(subject: str, body: str) -> tuple[str | None, str]:
    """The document number in the subject or the body's first lines, written the standard way
    (`京政发〔2026〕12号`), and the subject without it (when it stood there)."""
    match = _NUMBER.search(subject[:LINE_LIMIT])
    if match is not None:
        before, after = subject[:match.start('prefix')].strip(), subject[match.end():].strip()
        # Taken off the title only where it stands apart, at the start or the end.
        if not before.strip("（(【[") or not after.strip("）)】]"):
            rest = (before.rstrip("（(【[") + " " + after.lstrip("）)】]")).strip(" \t:：,，")
            return _standard(match), rest or subject
        return _standard(match), subject
    for line in body[:FIRST_LINES * LINE_LIMIT].splitlines()[:FIRST_LINES]:
        match = _NUMBER.search(line[:LINE_LIMIT])
        if match is not None:
            return _standard(match), subject
    return None, subject


def _standard(match: re.Match[str]) -> str:
    return f"{match.group('prefix')}〔{match.group('year')}〕{int(match.group('serial'))}号"
