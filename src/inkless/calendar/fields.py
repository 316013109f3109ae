"""Read the field lines of a meeting or task mail (时间：, 地点：, 要求：, 人员：, 期限：, 私密：):
the first non-empty occurrence of each, never from a quoted earlier mail."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Fields:
    """The field lines of a meeting mail, and what remains of its body as the description."""

    time: str | None
    time_line: str | None
    location: str | None
    requirements: str | None
    person: str | None
    private: bool
    rest: str
    # A task's 期限 line, its value and the whole line (for error answers).
    deadline: str | None = None
    deadline_line: str | None = None


_KEYS: dict[str, str] = {
    "时间": "time",
    "会议时间": "time",
    "日期": "time",
    "time": "time",
    "when": "time",
    "地点": "location",
    "会议地点": "location",
    "location": "location",
    "place": "location",
    "where": "location",
    "要求": "requirements",
    "会议要求": "requirements",
    "requirements": "requirements",
    "notes": "requirements",
    "人员": "person",
    "person": "person",
    "for": "person",
    "期限": "deadline",
    "截止日期": "deadline",
    "办结期限": "deadline",
    "deadline": "deadline",
    "due": "deadline",
    "私密": "private",
    "私人": "private",
    "隐私": "private",
    "private": "private",
}
_YES = frozenset({"是", "yes", "y", "true", "1"})


def _key_pattern(key: str) -> str:
    """A key as a pattern; Chinese keys may be spaced out, as in formal notices (时　间：)."""
    return re.escape(key) if key.isascii() else r"\s*".join(map(re.escape, key))


_BULLET = r"(?:[一二三四五六七八九十]+[、.．]|\d+[、.．)）]|[(（][一二三四五六七八九十\d]+[)）]|[-*•·●])"
_FIELD = re.compile(
    rf"^\s*{_BULLET}?\s*(?P<key>{'|'.join(_key_pattern(k) for k in sorted(_KEYS, key=len, reverse=True))})"
    r"\s*[:：]\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_QUOTE = re.compile(
    r"^\s*(?:>"
    r"|-{2,}\s*(?:原始邮件|转发邮件|original message|forwarded message)"
    r"|on\s.+\swrote:\s*$"
    r"|在.+写道[:：]\s*$)",
    re.IGNORECASE,
)


def read_fields(body: str) -> Fields:
    """Pick the field lines out of a mail body; the first non-empty occurrence of each wins.

    Reading stops at a quoted reply, so an earlier mail in the thread never supplies fields
    or description. Lines that supplied no value stay in the description.
    """
    lines = _own_lines(body)
    found: dict[str, str] = {}
    time_line: str | None = None
    deadline_line: str | None = None
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        name, value, after = _field_at(lines, index)
        if name is None or not value or name in found:
            kept.append(line)
            index += 1
            continue
        found[name] = value
        if name == "time":
            time_line = line
        if name == "deadline":
            deadline_line = line
        index = after
    return Fields(
        time=found.get("time"),
        time_line=time_line,
        location=found.get("location"),
        requirements=found.get("requirements"),
        person=found.get("person"),
        private=_is_yes(found.get("private")),
        rest="\n".join(kept).strip(),
        deadline=found.get("deadline"),
        deadline_line=deadline_line,
    )


def _own_lines(body: str) -> list[str]:
    """The body's lines up to the first quoted-reply marker."""
    lines = body.splitlines()
    for index, line in enumerate(lines):
        if _QUOTE.match(line):
            return lines[:index]
    return lines


def _field_at(lines: list[str], index: int) -> tuple[str | None, str, int]:
    """The field named on lines[index], its value, and the index of the first line after it.

    Requirements run on over the following lines up to a blank line or the next field line.
    """
    found = _FIELD.match(lines[index])
    if found is None:
        return None, "", index + 1
    name = _KEYS[re.sub(r"\s+", "", found["key"]).lower()]
    parts = [found["value"].strip()]
    after = index + 1
    if name == "requirements":
        while after < len(lines) and lines[after].strip() and not _FIELD.match(lines[after]):
            parts.append(lines[after].strip())
            after += 1
    return name, "\n".join(part for part in parts if part), after


def _is_yes(value: str | None) -> bool:
    """Whether a 私密 value says yes (是, yes, true, 1)."""
    return value is not None and value.strip().rstrip("。.!！").lower() in _YES
