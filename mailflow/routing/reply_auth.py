"""What the receiving MTA found about the sender of a reply (``Authentication-Results``,
RFC 8601), so a reply whose From was forged is not taken as the installer's answer.

Only the MTA's own header counts: the one carrying ``MAILFLOW_AUTHSERV_ID`` when that is set
(RFC 8601 §5: the MTA removes headers claiming its id from incoming mail), otherwise the
topmost one (the last hop prepends its header). Failing results refuse the reply: DMARC
``fail``, or SPF ``fail`` without a passing DKIM signature. Passing or missing results change
nothing (the reply token stays the credential); a header claiming failure can only hurt the
one who wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

import authres

from mailflow.domain.intake import mime

HEADER = "Authentication-Results"
# Fallback for headers the RFC parser refuses (some providers omit the authserv-id): only
# method=result pairs are read, outside comments.
_RESULT = re.compile(r"(?:^|;)\s*([a-z][a-z0-9_-]*)\s*=\s*([a-z]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Verdict:
    refused: bool
    reason: str  # what the MTA said, for the inbound row and the log


def _results(value: str) -> tuple[str | None, dict[str, set[str]]]:
    """(authserv-id, {method: {results}}) of one header value."""
    found: dict[str, set[str]] = {}
    try:
        parsed = authres.AuthenticationResultsHeader.parse(f"{HEADER}: {value}")
    except Exception:
        text = value
        for _ in range(3):  # nested comments
            text = _COMMENT.sub(" ", text)
        authserv_id = text.split(";", 1)[0].strip().split(" ")[0].lower() or None
        for method, result in _RESULT.findall(";" + text.split(";", 1)[-1]):
            found.setdefault(method.lower(), set()).add(result.lower())
        return authserv_id, found
    for result in parsed.results:
        found.setdefault(str(result.method).lower(), set()).add(str(result.result).lower())
    return (str(parsed.authserv_id).lower() if parsed.authserv_id else None), found


def mta_results(message: Message, authserv_id: str | None) -> dict[str, set[str]] | None:
    """The results of the header our MTA wrote, or None when there is none."""
    values = mime.header_all(message, HEADER)
    if not values:
        return None
    if not authserv_id:
        return _results(values[0])[1]
    merged: dict[str, set[str]] = {}
    for value in values:
        server, results = _results(value)
        if server == authserv_id.strip().lower():
            for method, outcomes in results.items():
                merged.setdefault(method, set()).update(outcomes)
    return merged or None


def check_sender(message: Message, authserv_id: str | None) -> Verdict:
    results = mta_results(message, authserv_id)
    if results is None:
        return Verdict(False, "no Authentication-Results from our MTA")
    said = "; ".join(f"{m}={','.join(sorted(r))}" for m, r in sorted(results.items()))
    if "fail" in results.get("dmarc", set()):
        return Verdict(True, f"DMARC failed ({said})")
    if "fail" in results.get("spf", set()) and "pass" not in results.get("dkim", set()):
        return Verdict(True, f"SPF failed without a valid DKIM signature ({said})")
    return Verdict(False, said)
