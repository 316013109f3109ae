"""Mail to Inkless's signed return addresses (replies, bounces, read receipts)."""

from __future__ import annotations

from inkless.errors import Quarantine
from inkless.handlers.pipeline import Context
from inkless.storage.audit import record


class ReturnMail:
    """Keeps returns for the handlers that interpret them.

    Replies (sign-off, acknowledgement), bounces (DSN) and read receipts (MDN) are read by
    the sign-off and receipts handlers; until those are configured, a return is held in
    quarantine with its reason, so it can be reprocessed and is never lost.
    """

    name = "returns"

    async def process(self, ctx: Context) -> None:
        record(ctx.session, now=ctx.clock.now(), actor=ctx.inbound.mail_from or "<>", action="return.received",
               subject_type="inbound", subject_id=ctx.inbound.id, detail={"addresses": list(ctx.routes.returns)})
        raise Quarantine("replies, bounces and receipts are not interpreted yet")
