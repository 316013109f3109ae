"""Check that the header From is a member allowed to write to the addressed units."""

from __future__ import annotations

from inkless.errors import Quarantine
from inkless.handlers.pipeline import Context


class SenderCheck:
    """Unit mail must come from an org member; all@ only from clerks, leaders and admins.

    The SMTP edge already refuses such mail with 550; this catches mail that arrived by
    another way (IMAP, reprocessing after an org change).
    """

    name = "sender"

    async def process(self, ctx: Context) -> None:
        sender = ctx.message.sender
        if sender is None:
            raise Quarantine("header From is missing or names more than one address")
        person = ctx.directory.person(sender)
        if person is None:
            raise Quarantine(f"header From {sender} is not a member of the organisation")
        if "all" in ctx.routes.units and not ctx.directory.may_send_to_all(sender):
            raise Quarantine(f"{sender} may not write to all@ (clerks, leaders and admins only)")
        ctx.sender = person
