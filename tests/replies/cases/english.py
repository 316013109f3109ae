"""English replies, plain and built to trip a reader, labelled by the grammar in cases/__init__.py."""

from __future__ import annotations

from tests.replies.cases.case import APPROVE, REJECT, UNCLEAR, cases

EN_APPROVE = cases(APPROVE, False, (
    ("Approved.", "approved"),
    ("Approved, please fix paragraph 3.", "approved with a comment"),
    ("I approve.", "I approve"),
    ("I approve. Please send it out today.", "I approve, comment sentence"),
    ("Approve", "approve alone"),
    ("Yes, approved.", "yes + approved"),
    ("Yes", "yes"),
    ("OK", "OK"),
    ("OK, go ahead.", "OK with comment"),
    ("LGTM", "LGTM"),
    ("Agreed.", "agreed"),
    ("I agree.", "I agree"),
    ("Fully approved.", "fully prefix"),
    ("I hereby approve this document.", "hereby prefix"),
    ("Approved - thanks for the quick turnaround.", "approved, thanks"),
    ("Approved. Please copy the audit office.", "approved, comment sentence"),
    ("Approve. Minor typos in section 2, fix before sending.", "approve, comment"),
    ("Yes, go ahead.", "yes with comment"),
    ("approved", "lower case"),
    ("APPROVED", "upper case"),
), english=True)

EN_APPROVE_TRICKY = cases(APPROVE, True, (
    ("Ａｐｐｒｏｖｅｄ", "full-width letters"),
    ("Approved. Don't wait for my second review.", "negation in a later sentence without a decision word"),
    ("Approved. Did you check the budget table?", "the question is in a later sentence"),
    ("Approved. The director asked about timing, please call him.", "third party in a later sentence"),
), english=True)

EN_REJECT = cases(REJECT, False, (
    ("Rejected.", "rejected"),
    ("Reject: over budget.", "reject with reason"),
    ("Not approved - too costly.", "not approved"),
    ("I don't approve.", "I don't approve"),
    ("No.", "no"),
    ("No, the figures are wrong.", "no with reason"),
    ("Rejected, see comments below.", "rejected"),
    ("NOT APPROVED", "upper case"),
    ("Not approved. Please rework section 3.", "not approved, comment"),
    ("No - please revise and resubmit.", "no with comment"),
), english=True)

EN_REJECT_TRICKY = cases(REJECT, True, (
    ("I do not approve.", "do not before approve"),
    ("This is not approved.", "not before approved"),
    ("We do not approve.", "We do not approve"),
    ("We can't approve it as written.", "can't before approve"),
    ("I cannot approve this.", "cannot before approve"),
    ("I won't approve this version.", "won't before approve"),
    ("I will never approve this.", "never before approve"),
    ("I would not approve this in its current form.", "would not before approve"),
    ("Unfortunately I can't approve this.", "can't before approve"),
    ("Sorry, not approved.", "not approved after sorry"),
    ("Ｎｏｔ ａｐｐｒｏｖｅｄ", "full-width letters"),
    ("N\u043et approved", "Cyrillic о in Not: must never approve"),
    ("I d\u043en't approve", "Cyrillic о in don't: must never approve"),
    ("I disagree.", "disagree is not agree"),
    ("Disapproved.", "disapproved is not approved"),
), english=True)

EN_UNCLEAR = cases(UNCLEAR, False, (
    ("Thanks, will review.", "no decision"),
    ("Let me think about it.", "no decision"),
    ("Got it.", "acknowledgement"),
    ("Noted.", "acknowledgement"),
    ("Can we discuss tomorrow?", "no decision word"),
), english=True)

EN_UNCLEAR_TRICKY = cases(UNCLEAR, True, (
    ("Approve?", "question"),
    ("Should I approve this?", "question"),
    ("OK?", "question"),
    ("Approve or reject - your call.", "choice"),
    ("Approve if the budget is cut by 10%.", "condition"),
    ("Approved once legal signs off.", "condition: once"),
    ("Approved pending the audit.", "condition: pending"),
    ("I'll approve unless finance objects.", "condition: unless"),
    ("The chief approved.", "third party"),
    ("Mr Li agrees.", "third party"),
    ("No problem.", "'No problem' is not a no"),
    ("OK if the director agrees.", "condition"),
    ("Yes or no? I need more details first.", "choice and question"),
    ("Approved? Not yet.", "first deciding sentence is a question"),
    ("I'd approve it if section 3 were rewritten.", "condition"),
    ("Please reply \"approve\" to approve.", "quotes the instruction"),
    ("Is this approved already?", "question"),
    ("Approved. Section 3 is rejected.", "mixed polarity"),
    ("", "empty reply"),
), english=True)
