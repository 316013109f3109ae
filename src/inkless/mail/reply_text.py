"""The new text of a reply: the person's own lines, wherever they wrote them.

People write above the quoted original (Outlook, Foxmail, most phones), below it
(Thunderbird's default, many Gmail users) or between quoted parts. So the reply is read
line by line, table-driven by each client's quote shapes:
- `>` lines are quoted and skipped; an attribution line ("On … wrote:", "在 … 写道：")
  followed by `>` lines is skipped with them, and the text after the quote is kept;
- a header block or separator (Outlook's "发件人:", "-----Original Message-----",
  Foxmail's "原始邮件", or an attribution followed by an unmarked original) starts an
  original that runs to the end: everything from there on is dropped;
- a signature ("-- ", "发自我的iPhone" …) is dropped up to the next quoted part.
HTML-only replies are turned into text first, with the quote containers clients mark
(gmail_quote, divRplyFwdMsg, blockquote …) left out.
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
# Attribution lines: when `>` lines follow, only they are quoted and the text after them is
# the person's own (bottom-posting); otherwise the original follows unmarked, to the end.
ATTRIBUTIONS = frozenset({"Gmail/Apple/Thunderbird en", "Gmail zh", "NetEase 163 / Thunderbird zh", "Apple Mail zh"})
QUOTED_LINE = re.compile(r"^\s*>")
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
    """The reply's own text: every line the person wrote, without quotes or signatures."""
    lines = _lines(text)
    kept: list[str] = []
    index, in_signature = 0, False
    while index < len(lines):
        line = lines[index]
        if QUOTED_LINE.match(line):
            in_signature = False
            index += 1
            continue
        found = _quote_at(lines, index)
        if found is not None:
            style, width = found
            if style in ATTRIBUTIONS and _quote_follows(lines, index + width):
                in_signature = False
                index += width
                continue
            break
        if not in_signature and any(pattern.match(line) for pattern in SIGNATURE_STARTS):
            in_signature = True
        if not in_signature:
            kept.append(line)
        index += 1
    return re.sub(r"\n\s*\n+", "\n\n", "\n".join(kept)).strip()


def _quote_follows(lines: list[str], start: int) -> bool:
    """Whether the first non-blank line from `start` on is a `>` line."""
    following = next((lines[index] for index in range(start, len(lines)) if lines[index].strip()), None)
    return following is not None and bool(QUOTED_LINE.match(following))


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _quote_at(lines: list[str], index: int) -> tuple[str, int] | None:
    """The client style whose quote begins at lines[index], and how many lines its marker takes."""
    line = lines[index]
    joined = f"{line} {lines[index + 1]}" if index + 1 < len(lines) else line
    for name, pattern in QUOTE_STARTS:
        if pattern.match(line):
            return name, 1
        if name in WRAPPING and index + 1 < len(lines) and pattern.match(joined):
            return name, 2
    return None


def quote_style(text: str) -> str | None:
    """Which client style's quote marker a text carries first (for tests and evidence)."""
    lines = _lines(text)
    return next((found[0] for index in range(len(lines)) if (found := _quote_at(lines, index))), None)


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
