"""The MIME details a mail client gets right or wrong: charsets, transfer encodings, RFC 2047 words.

Messages are assembled by hand rather than with `email.message`, so that each client's own choices
(GB2312 labels on GBK text, base64 versus quoted-printable, format=flowed, the case of the charset
name in encoded words) come out exactly as that client writes them.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Sequence

CRLF = "\r\n"
# A label a Chinese client writes, and the smaller-to-larger labels it falls back to.
GB_LABELS = ("gb2312", "gbk", "gb18030")


def pick_charset(text: str, preferred: str) -> str:
    """The client's preferred label if the text fits it, else the next larger GB charset, keeping its case."""
    lower = preferred.lower()
    if lower not in GB_LABELS:
        return preferred
    for label in GB_LABELS[GB_LABELS.index(lower):]:
        try:
            text.encode(label)
        except UnicodeEncodeError:
            continue
        return label.upper() if preferred.isupper() else label
    return "GB18030" if preferred.isupper() else "gb18030"


def encode(text: str, charset: str) -> bytes:
    """Text in a charset; GB labels are written with GB18030, which agrees with GB2312 and GBK where they fit."""
    codec = "gb18030" if charset.lower() in GB_LABELS else charset
    return text.encode(codec)


def body(text: str, charset: str, transfer: str) -> str:
    """A text body in `charset` and Content-Transfer-Encoding `transfer`, with CRLF line ends."""
    data = encode(text.replace("\r\n", "\n").replace("\n", "\r\n"), charset)
    if transfer == "base64":
        return base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    if transfer == "quoted-printable":
        # quopri works on bare LF lines; the result is ASCII with soft breaks at 76 columns.
        encoded = quopri.encodestring(data.replace(b"\r\n", b"\n")).decode("ascii")
        return encoded.replace("\n", CRLF) + ("" if encoded.endswith("\n") else CRLF)
    if transfer in ("8bit", "7bit"):
        # Raw bytes ride through the str assembly as surrogates; `to_bytes` turns them back.
        return data.decode("ascii", "surrogateescape") + CRLF
    raise ValueError(f"unknown transfer encoding {transfer}")


def to_bytes(message: str) -> bytes:
    """The assembled message as the bytes on the wire (8bit parts kept byte for byte)."""
    return message.encode("ascii", "surrogateescape")


def words(value: str, charset: str, *, upper_b: bool = True) -> str:
    """An unstructured header value as RFC 2047 encoded words (ASCII values are left as they are)."""
    if value.isascii():
        return value
    chunks: list[str] = []
    current = ""
    for character in value:
        if len(encode(current + character, charset)) > 45:
            chunks.append(current)
            current = ""
        current += character
    chunks.append(current)
    marker = "B" if upper_b else "b"
    encoded = [f"=?{charset}?{marker}?{base64.b64encode(encode(chunk, charset)).decode('ascii')}?=" for chunk in chunks]
    return (CRLF + " ").join(encoded)


def mailbox(name: str, address: str, charset: str, *, quote_ascii: bool = False) -> str:
    """`name <address>` with the display name encoded when it is not ASCII."""
    if not name:
        return address
    if name.isascii():
        special = quote_ascii or any(character in name for character in ",.;:@<>()[]")
        return f'"{name}" <{address}>' if special else f"{name} <{address}>"
    return f"{words(name, charset)} <{address}>"


def header_block(headers: Sequence[tuple[str, str]]) -> str:
    """Header lines in the given order."""
    return "".join(f"{name}: {value}{CRLF}" for name, value in headers)


def text_part(content_type: str, charset: str, transfer: str, text: str, *, params: str = "") -> str:
    """One text/plain or text/html part: its headers, a blank line and the encoded body."""
    quoted = f'"{charset}"' if charset.lower() in GB_LABELS else charset
    return (f"Content-Type: {content_type}; charset={quoted}{params}{CRLF}"
            f"Content-Transfer-Encoding: {transfer}{CRLF}{CRLF}{body(text, charset, transfer)}")


def alternative(boundary: str, parts: Sequence[str]) -> tuple[str, str]:
    """(Content-Type header value, body) of a multipart/alternative holding `parts`."""
    inner = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return f'multipart/alternative;{CRLF}\tboundary="{boundary}"', f"{CRLF}{inner}--{boundary}--{CRLF}"
