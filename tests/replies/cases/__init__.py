"""What the approvers typed, each with the decision a careful reader takes from it, and why.

Labels follow the reading grammar of SPEC §2.2 as issue 14 spells it out: only the person's own
text counts; the first sentence with a decision word decides; negation before the approving word
in its clause rejects; a question, a choice, a condition, someone else's decision, a quoted
instruction, a double negation or mixed decisions in different sentences are unclear; "收到",
"好的", "已阅" alone are unclear. A case is adversarial when it is built to trip a reader.
"""

from __future__ import annotations

from tests.replies.cases.case import APPROVE, REJECT, UNCLEAR, Case
from tests.replies.cases.chinese import (
    ZH_APPROVE,
    ZH_APPROVE_TRICKY,
    ZH_REJECT,
    ZH_REJECT_TRICKY,
    ZH_UNCLEAR,
    ZH_UNCLEAR_TRICKY,
)
from tests.replies.cases.english import (
    EN_APPROVE,
    EN_APPROVE_TRICKY,
    EN_REJECT,
    EN_REJECT_TRICKY,
    EN_UNCLEAR,
    EN_UNCLEAR_TRICKY,
)
from tests.replies.cases.shapes import EARLIER, FORMATTED, INTERLEAVED, SIGNATURES

__all__ = ["ALL", "APPROVE", "REJECT", "UNCLEAR", "Case"]

ALL: list[Case] = (ZH_APPROVE + ZH_APPROVE_TRICKY + ZH_REJECT + ZH_REJECT_TRICKY + ZH_UNCLEAR + ZH_UNCLEAR_TRICKY
                   + EN_APPROVE + EN_APPROVE_TRICKY + EN_REJECT + EN_REJECT_TRICKY + EN_UNCLEAR + EN_UNCLEAR_TRICKY
                   + SIGNATURES + EARLIER + FORMATTED + INTERLEAVED)
