"""The edge's own reading of MAIL FROM / RCPT TO paths gives what aiosmtpd's parser gives."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from inkless.bridge.smtp import InklessSMTP

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
# Pieces a path is made of, plain and otherwise: the fast path must take apart exactly the
# plain ones and leave every other to aiosmtpd with the same outcome.
PIECES = st.sampled_from(["<", ">", "@", ".", " ", "\t", "(", ")", '"', "[", "]", ":", ",", "\\", "é", "a", "b.c",
                          "x-y", "SIZE=100", "BODY=8BITMIME", "<a@b.c>", "<>", "@x:"])
PLAIN_PATH = st.builds(
    lambda local, domain, after: f"<{'.'.join(local)}@{'.'.join(domain)}>{after}",
    st.lists(st.text(ATEXT, min_size=1, max_size=6), min_size=1, max_size=3),
    st.lists(st.text("abc019-", min_size=1, max_size=6), min_size=1, max_size=3),
    st.sampled_from(["", " SIZE=1000", "  BODY=8BITMIME SMTPUTF8", "\tSIZE=1", "x", " (comment)", "  ", ">"]),
)


def _both(arg: str, limit: int = 0) -> tuple[object, object]:
    ours, theirs = InklessSMTP.__new__(InklessSMTP), SMTP.__new__(SMTP)
    ours.local_part_limit = theirs.local_part_limit = limit

    def parse(server: SMTP) -> object:
        try:
            return server._getaddr(arg)
        except Exception as exc:  # the same failure counts as the same answer
            return type(exc)

    return parse(ours), parse(theirs)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(PLAIN_PATH, st.lists(PIECES, max_size=8).map("".join)))
def test_a_path_reads_as_aiosmtpd_reads_it(arg: str) -> None:
    ours, theirs = _both(arg)
    assert ours == theirs


@pytest.mark.parametrize(("arg", "limit"), [("<abcd@e.f>", 3), ("<abc@e.f>", 3), ("<abc@e.f> SIZE=1", 64)])
def test_the_local_part_limit_holds_on_the_fast_path(arg: str, limit: int) -> None:
    ours, theirs = _both(arg, limit)
    assert ours == theirs
