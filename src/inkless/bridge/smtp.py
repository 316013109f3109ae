"""SMTP ingress: check envelope and sender, store durably, answer. No office logic here.

Replies are values: each hook returns the SMTP reply line. Codes:
- 550 5.7.1 foreign domain (never an open relay), non-member sender (a look-alike address
  is refused already at MAIL), null sender to a unit address, a header From that is not
  the envelope sender, forged return token, failed upstream DKIM/SPF, a classified document;
- 550 5.1.1 unknown local part; 452 4.5.3 the (max_recipients+1)th RCPT;
- 552 oversize (aiosmtpd: at MAIL when SIZE= is declared, and at the end of DATA);
- 451 4.3.0 when the store cannot commit (the client retries; nothing is half-accepted).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from inkless import metrics
from inkless.addresses import fold_address
from inkless.bridge.spool import DataSpool
from inkless.bridge.store import Arrival, InboundStore
from inkless.config import Config
from inkless.directory import Directory
from inkless.mail import authres, classified
from inkless.mail.parse import header_text
from inkless.tokens import TokenSigner

log = logging.getLogger(__name__)

# Long lines (a 200 KB header) are accepted here and quarantined by the parser, so the
# sender's operator can see the reason; only lines beyond this get 500.
LINE_LIMIT = 1024 * 1024

# The common form of a MAIL/RCPT path, `<local@domain>` with dot-atoms on both sides (RFC 5321
# §4.1.2), and what may follow it; anything else (quoted local parts, source routes, address
# literals, comments, UTF-8) goes to aiosmtpd's full parser.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"\s*<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?:[ \t]+(?=[^ \t(])|$)")


class InklessSMTP(SMTP):
    """aiosmtpd's SMTP with a line limit large enough to quarantine rather than refuse, and
    DATA read in blocks into a spool (bridge/spool.py) rather than a list of lines."""

    line_length_limit = LINE_LIMIT
    _dir_names: list[str] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        activity = getattr(self.event_handler, "activity", None)
        if activity is not None:
            activity()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        # aiosmtpd's smtp_DATA, but for how the text is read: the checks and answers before
        # and after it are the same.
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        spool = DataSpool(size_limit=self.data_size_limit, line_limit=self.line_length_limit)
        try:
            ended = await self._read_data(spool)
            if ended and spool.problem is None:
                self.envelope.content = self.envelope.original_content = spool.message()
        except asyncio.CancelledError:
            log.info("connection lost during DATA")
            self._writer.close()
            raise
        finally:
            spool.close()
        if not ended:  # the client went away before the end
            self._writer.close()
            return
        if spool.problem is not None:
            await self.push(spool.problem.value)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks else MISSING
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self, spool: DataSpool) -> bool:
        """Feed the spool everything the connection has delivered until the end of the text;
        what came after the end (pipelined commands) goes back to the reader. False at EOF."""
        reader = self._reader
        while True:
            # All that is buffered: the reader is empty afterwards, so what followed the end
            # can be put back in front of anything that arrives later.
            block = await reader.read(sys.maxsize)
            if not block:
                return False
            after = spool.feed(block)
            if after is not None:
                if after and not reader.at_eof():
                    reader.feed_data(after)
                return True

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses every path with the email package's header parser (and defines a
        # class per call): a tenth of a message's time at the edge. The plain form is taken
        # apart here, with the same result; anything else is left to aiosmtpd.
        match = _PLAIN_PATH.match(arg)
        if match is None:
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and address.rindex("@") > self.local_part_limit:
            return None, None
        return address, arg[match.end():]

    def __dir__(self) -> list[str]:
        # aiosmtpd's __init__ runs inspect.getmembers(self) and dir(self) on every connection
        # (about 100 µs, a tenth of a message's cost) only to find the smtp_* and auth_*
        # methods; list just those, once per class.
        cls = type(self)
        names = cls.__dict__.get("_dir_names")
        if names is None:
            names = [name for name in object.__dir__(self) if name.startswith(("smtp_", "auth_"))]
            cls._dir_names = names
        return names


class IngressHandler:
    """aiosmtpd handler: RCPT and DATA checks, then the durable store."""

    def __init__(
        self,
        *,
        config: Config,
        directory: Callable[[], Directory],
        signer: TokenSigner,
        store: InboundStore,
        on_stored: Callable[[], None],
        on_activity: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        # Called on every connection, RCPT and DATA: background work waits while sessions are
        # busy (IngestPressure), not only while messages are being stored.
        self.activity = on_activity
        self._directory = directory
        self._signer = signer
        self._store = store
        self._on_stored = on_stored
        self._headers = BytesHeaderParser(policy=compat32)

    def __dir__(self) -> list[str]:
        # aiosmtpd's SMTP.__init__ looks through dir(handler) twice on every connection for its
        # handle_* and auth_* methods; those are all it needs to see.
        return [name for name in object.__dir__(self) if name.startswith(("handle_", "auth_"))]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        reply = self._check_mail(address)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def _check_mail(self, address: str) -> str | None:
        # A sender who is not a member may still write to a reply address (ignored there,
        # never bounced: it may be a robot), unless the address has characters beyond ASCII:
        # that is how a look-alike of a member's address is made (a Kelvin sign, full-width
        # letters), so it is refused here, before anything else.
        sender = address.strip()
        if sender in ("", "<>") or sender.isascii() or self._directory().is_member(sender):
            return None
        return f"550 5.7.1 Sender {_reply_safe(sender)} is not a member of the organisation"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        self.activity()
        reply = self._check_rcpt(envelope, address)
        if reply is None:
            envelope.rcpt_tos.append(address)
            reply = "250 2.1.5 OK"
        metrics.SMTP_RCPT[reply[0]].inc()
        return reply

    def _check_rcpt(self, envelope: Envelope, address: str) -> str | None:
        if len(envelope.rcpt_tos) >= self._config.smtp.max_recipients:
            return "452 4.5.3 Too many recipients"
        local, at, domain = address.rpartition("@")
        if not at or fold_address(domain) != self._config.domain:
            return f"550 5.7.1 Relaying denied: this server only accepts mail for {self._config.domain}"
        local = fold_address(local)
        sender = fold_address(envelope_sender(envelope))
        if self._signer.is_token_local_part(local):
            if self._signer.verify_address(local) is None:
                return "550 5.7.1 Invalid or forged return address"
            return None
        if local == "reply":
            # Some clients (Exchange, mobile) drop the +tag; the token is in References.
            return None
        directory = self._directory()
        if local != "all" and local not in directory.units:
            return "550 5.1.1 No such unit or address here"
        if not sender:
            return "550 5.7.1 The null sender may not write to unit addresses"
        if not directory.is_member(sender):
            # A registered outside organ (SPEC §2.8) may send documents in to a unit, never to all@.
            if local != "all" and directory.external_organ(sender) is not None:
                return None
            return "550 5.7.1 Sender is not a member of the organisation"
        if local == "all" and not directory.may_send_to_all(sender):
            return "550 5.7.1 Only clerks, leaders and admins may write to all@"
        return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await self._data(session, envelope)
        metrics.SMTP_DATA[reply[0]].inc()
        return reply

    async def _data(self, session: Session, envelope: Envelope) -> str:
        self.activity()
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and envelope.content is not raw:
            raw = envelope.content
        reply = self._check_headers(envelope, raw)
        if reply is not None:
            return reply
        arrival = Arrival(peer=_peer(session), mail_from=envelope_sender(envelope),
                          rcpt_tos=list(envelope.rcpt_tos), raw=raw)
        del raw
        try:
            inbound_id = await self._store.store(arrival)
        except Exception:
            log.exception("inbound store failed; answering 451")
            return "451 4.3.0 Temporary failure storing the message, please try again"
        finally:
            # Stored or not, the bytes are not needed here any more; let them go now rather
            # than after the answer, while the worker may already be reading its own copy.
            envelope.content = envelope.original_content = None
            del arrival
        metrics.STORED_SMTP.inc()
        self._on_stored()
        return f"250 2.0.0 OK queued as {inbound_id}"

    def _check_headers(self, envelope: Envelope, raw: bytes) -> str | None:
        """Header From (and upstream authentication) checks for mail to unit addresses: the
        header From is a member (or a registered outside sender) and the same address as the
        envelope sender (one member can never write as another)."""
        units = [r for r in envelope.rcpt_tos if is_unit_address(r, self._signer)]
        if not units:
            return None
        head = raw[: _header_end(raw)]
        senders = [address for m in _FROM.finditer(head) for address in _addresses(_unfold(m.group(1)))]
        directory = self._directory()
        if len(senders) != 1 or not (directory.is_member(senders[0]) or directory.external_organ(senders[0])):
            shown = _reply_safe(senders[0]) if senders else "(none)"
            return f"550 5.7.1 Header From {shown} is not a member of the organisation"
        envelope_from = fold_address(envelope_sender(envelope))
        if senders[0] != envelope_from:
            return (f"550 5.7.1 header From does not match the envelope sender (From {_reply_safe(senders[0], 60)}, "
                    f"MAIL FROM {_reply_safe(envelope_from, 60)})")
        if any(fold_address(r).startswith("all@") for r in units) and not directory.may_send_to_all(senders[0]):
            return "550 5.7.1 Only clerks, leaders and admins may write to all@"
        if classified.marking(*classified.opening_text(raw)) is not None:
            # Refused before anything is stored: classified documents never travel through Inkless.
            return (f"550 5.7.1 {classified.REASON}: hand them to your confidential-documents (jiyao) office "
                    "for the confidential courier or an approved classified network")
        trusted = self._config.smtp.trusted_authserv_id
        if trusted:
            headers = self._headers.parsebytes(head)
            results = [header_text(v) for v in headers.get_all("Authentication-Results") or []]
            failure = authres.failed(results, trusted)
            if failure:
                return f"550 5.7.1 Sender authentication failed ({_reply_safe(failure)})"
            if not directory.is_member(senders[0]) and not authres.passed(results, trusted):
                # An outside organ's mail counts only when the upstream MTA vouches for its sender.
                return f"550 5.7.1 Sender authentication required for outside senders (dkim or spf pass from {trusted})"
        return None

    async def handle_exception(self, error: Exception) -> str:
        # Without this hook aiosmtpd would show the exception text to the client.
        log.exception("SMTP session error", exc_info=error)
        return "421 4.3.0 Internal error, closing connection"


def _reply_safe(text: str, limit: int = 120) -> str:
    """Text from the message, made fit for an SMTP reply line: printable ASCII only (the raw
    header may hold undecodable bytes or controls) and short (a reply line is at most 512
    octets, RFC 5321 §4.5.3.1.5)."""
    safe = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def is_unit_address(address: str, signer: TokenSigner) -> bool:
    local = fold_address(address.rpartition("@")[0])
    return local != "reply" and not signer.is_token_local_part(local)


def envelope_sender(envelope: Envelope) -> str:
    """MAIL FROM without brackets; the null sender `<>` is the empty string."""
    sender = (envelope.mail_from or "").strip()
    return "" if sender == "<>" else sender


# Header From lines (with their folded continuations), found without a full header parse:
# this runs for every message on the SMTP edge.
_FROM = re.compile(rb"^From[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


_ANGLE = re.compile(r"<([^<>\s]*@[^<>\s]*)>")


def _addresses(value: str) -> list[str]:
    """Addresses in a From value, folded; the common one-mailbox forms without the full parser."""
    if "," not in value and '"' not in value and "(" not in value:
        found = _ANGLE.findall(value)
        if len(found) == 1:
            return [fold_address(found[0])]
        if not found and "@" in value and " " not in value.strip():
            return [fold_address(value)]
    return [fold_address(address) for _, address in getaddresses([value]) if address]


def _unfold(value: bytes) -> str:
    text = value.decode("utf-8", errors="surrogateescape")
    return re.sub(r"\r?\n[ \t]", " ", text).strip()


def _header_end(raw: bytes) -> int:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return len(raw) if end < 0 else end + 2


def _peer(session: Session) -> str | None:
    peer = session.peer
    if isinstance(peer, tuple):
        return f"{peer[0]}:{peer[1]}"
    return str(peer) if peer else None
