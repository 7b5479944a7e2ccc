"""Reading the MTA's Authentication-Results (RFC 8601) for email replies to offers."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailflow.routing.reply_auth import check_sender


def message(*values: str) -> EmailMessage:
    msg = EmailMessage()
    for value in values:
        msg["Authentication-Results"] = value
    return msg


@pytest.mark.parametrize(
    "values,authserv_id,refused",
    [
        ((), None, False),
        (("mx.example; dmarc=fail header.from=a.example",), None, True),
        (("mx.example; dmarc=pass header.from=a.example",), None, False),
        (("mx.example; spf=fail smtp.mailfrom=a.example",), None, True),
        (
            ("mx.example; spf=fail smtp.mailfrom=a.example; dkim=pass header.d=a.example",),
            None,
            False,
        ),
        (("mx.example; spf=softfail smtp.mailfrom=a.example; dkim=none",), None, False),
        # a comment saying "fail" is not a result
        (("mx.example; dkim=pass (dmarc=fail would be bad) header.d=a.example",), None, False),
        # topmost only, unless our id is named
        (("mx.example; dmarc=pass", "x; dmarc=fail"), None, False),
        (("forger.example; dmarc=pass", "mx.example; dmarc=fail"), "mx.example", True),
        (("forger.example; dmarc=fail",), "mx.example", False),
        (("MX.Example 1; dmarc=fail",), "mx.example", True),
    ],
)
def test_verdicts(values, authserv_id, refused):
    assert check_sender(message(*values), authserv_id).refused is refused


header_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300
) | st.builds(
    lambda parts: "; ".join(parts),
    st.lists(
        st.builds(
            "{}={}".format,
            st.sampled_from(["spf", "dkim", "dmarc", "arc", "x", "Dmarc"]),
            st.sampled_from(["pass", "fail", "none", "softfail", "neutral", "", "(c)"]),
        ),
        max_size=5,
    ),
)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(header_values, max_size=3), authserv_id=st.none() | st.just("mx.example"))
def test_never_raises_and_refuses_only_on_a_failure(values, authserv_id):
    msg = EmailMessage()
    for value in values:
        try:
            msg["Authentication-Results"] = value
        except (ValueError, TypeError):
            return
    verdict = check_sender(msg, authserv_id)
    if verdict.refused:
        assert "fail" in " ".join(values).lower()
