"""The new text of a reply: quoted originals, reply headers and signatures removed.

Table-driven: each entry is a line pattern that starts the quoted part (or a signature)
in one client's style. Everything from the first match on is dropped. HTML-only replies
are turned into text first, with the quote containers clients mark (gmail_quote,
divRplyFwdMsg, blockquote …) left out.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# (client style, pattern of the line where the quoted original begins).
QUOTE_STARTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
        ("quoted line", r"^\s*>"),
        ("Outlook en separator", r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$"),
        ("Outlook underscore rule", r"^\s*_{10,}\s*$"),
        ("Outlook en header block", r"^\s*\*?From:\*?\s.+"),
        ("Outlook zh header block", r"^\s*\*?发件人[:：]\*?"),
        ("Foxmail/QQ original", r"^\s*-{2,}\s*(原始邮件|Original)\s*-{2,}\s*$"),
        ("Foxmail reply header", r"^\s*-{3,}\s*回复的原邮件\s*-{3,}\s*$"),
        ("Gmail/Apple/Thunderbird en", r"^\s*On\s.{4,300}\bwrote:\s*$"),
        ("Gmail zh", r"^.{0,160}于\s*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日.{0,120}写道[:：]\s*$"),
        ("NetEase 163 / Thunderbird zh", r"^\s*在\s*.{4,200}写道[:：]\s*$"),
        ("Apple Mail zh", r"^\s*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日.{0,160}写道[:：]\s*$"),
        ("Apple Mail forwarded", r"^\s*(Begin forwarded message|转发的邮件|以下为转发的邮件)[:：]"),
    )
)
# Gmail and Thunderbird wrap a long "On … wrote:" / "在 … 写道：" over two lines: these
# patterns are also tried on a line joined to the next one.
WRAPPING = frozenset({"Gmail/Apple/Thunderbird en", "NetEase 163 / Thunderbird zh"})

# Lines that end the human text: signatures and "sent from" footers.
SIGNATURE_STARTS: tuple[re.Pattern[str], ...] = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"^-- ?$",
    r"^\s*(发自|来自|发送自)(我的)?\s*(iPhone|iPad|华为|荣耀|小米|OPPO|vivo|Android|手机|网易邮箱|QQ邮箱|Foxmail|企业微信|Mail)",
    r"^\s*(Sent from|Get) (my |Outlook |Mail )",
    r"^\s*从\s*Windows\s*版邮件发送",
))


def strip_reply(text: str) -> str:
    """The reply's own text, without quoted originals or signatures."""
    lines = _lines(text)
    cut = len(lines)
    for index, line in enumerate(lines):
        if _quote_at(lines, index) or any(pattern.match(line) for pattern in SIGNATURE_STARTS):
            cut = index
            break
    return "\n".join(lines[:cut]).strip()


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _quote_at(lines: list[str], index: int) -> str | None:
    """The client style whose quote begins at lines[index], if any."""
    line = lines[index]
    joined = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
    for name, pattern in QUOTE_STARTS:
        if pattern.match(line) or (name in WRAPPING and pattern.match(joined)):
            return name
    return None


def quote_style(text: str) -> str | None:
    """Which client style's quote marker a text carries first (for tests and evidence)."""
    lines = _lines(text)
    return next((style for index in range(len(lines)) if (style := _quote_at(lines, index))), None)


class _HtmlText(HTMLParser):
    """HTML to text, leaving out the containers clients use for the quoted original."""

    BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "pre"}
    SKIP = {"style", "script", "head", "title"}
    VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []
        self._quoted_depth = 0
        self._stopped = False

    def _is_quote(self, tag: str, attrs: dict[str, str | None]) -> bool:
        classes = (attrs.get("class") or "").split()
        element_id = attrs.get("id") or ""
        if tag == "blockquote":
            return True
        if {"gmail_quote", "gmail_extra", "yahoo_quoted", "moz-cite-prefix"} & set(classes):
            return True
        return element_id in {"divRplyFwdMsg", "appendonsend", "mail-editor-reference-message-container",
                              "isForwardContent", "isReplyContent", "origbody"}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._stopped:
            return
        attributes = dict(attrs)
        if attributes.get("id") == "appendonsend":
            # Outlook: everything after this marker is the quoted original.
            self._stopped = True
            return
        quote = self._is_quote(tag, attributes) or tag in self.SKIP
        if tag not in self.VOID:
            self._stack.append((tag, quote))
            if quote:
                self._quoted_depth += 1
        if tag in self.BLOCKS and not self._quoted_depth:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._stopped or tag in self.VOID:
            return
        while self._stack:
            open_tag, quote = self._stack.pop()
            if quote:
                self._quoted_depth -= 1
            if open_tag == tag:
                break
        if tag in self.BLOCKS and not self._quoted_depth:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._stopped and not self._quoted_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML reply, without the quoted original's containers."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def reply_text(text: str, html: str | None) -> str:
    """The new text of a reply, from its text/plain part or, failing that, its HTML."""
    source = text if text.strip() else html_to_text(html or "")
    return strip_reply(source)
