"""Why an imported row was rejected, in an admin's words: ``row 12: postcode '7501' is not a
valid postcode for FR`` rather than pydantic's ``String should match pattern``.

A problem is ``{"m": message, "a": {arguments}}``: the message is an English msgid (marked with
``N_`` for the catalogs) with ``%(name)s`` placeholders, translated when it is shown
(``describe(problem, gettext)``), so a rejected row reads in the language of whoever looks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


# Postcode formats of the countries leads come from (an import is where a spreadsheet drops a
# leading zero: 07501 becomes 7501). A country not listed is not checked.
POSTCODE_FORMATS: dict[str, re.Pattern[str]] = {
    **{c: re.compile(r"\d{5}") for c in ("FR", "DE", "ES", "IT", "FI", "SE")},
    **{c: re.compile(r"\d{4}") for c in ("BE", "AT", "CH", "LU", "DK", "NO")},
    "NL": re.compile(r"\d{4} ?[A-Z]{2}"),
    "PL": re.compile(r"\d{2}-\d{3}"),
    "PT": re.compile(r"\d{4}-\d{3}"),
}

MISSING = N_("%(field)s is missing")
EMPTY = N_("%(field)s is empty")
TOO_SHORT = N_("%(field)s '%(value)s' is too short (at least %(limit)s characters)")
TOO_LONG = N_("%(field)s is too long (at most %(limit)s characters)")
NOT_ONE_OF = N_("%(field)s '%(value)s' is not one of: %(choices)s")
NOT_A_NUMBER = N_("%(field)s '%(value)s' is not a whole number")
TOO_SMALL = N_("%(field)s '%(value)s' must be at least %(limit)s")
BAD_EMAIL = N_("email '%(value)s' is not a valid email address")
BAD_PHONE = N_("phone '%(value)s' is not a valid phone number for %(country)s")
NO_CONTACT = N_("an email or a phone number is required")
BAD_COUNTRY = N_("country '%(value)s' is not a two-letter country code (such as FR or DE)")
BAD_POSTCODE = N_("postcode '%(value)s' is not a valid postcode")
BAD_POSTCODE_FOR = N_("postcode '%(value)s' is not a valid postcode for %(country)s")
BAD_TIMEZONE = N_("time zone '%(value)s' is unknown (write it like Europe/Paris)")
BAD_TIER = N_("tier '%(value)s' is not one of: bronze, silver, gold")
UNREADABLE = N_("%(field)s '%(value)s' cannot be read: %(detail)s")
ROW = N_("row %(row)s: %(problems)s")

# The file's column for a location in the validated model (customer.email -> email).
_FIELD_NAMES = {"customer": "customer", "timezone": "time zone"}


def problem(message: str, **args: Any) -> dict[str, Any]:
    return {"m": message, "a": {k: _short(v) for k, v in args.items()}}


def _short(value: Any, limit: int = 80) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


def _field(loc: tuple) -> str:
    names = [str(p) for p in loc if not isinstance(p, int)]
    name = names[-1] if names else "row"
    return _FIELD_NAMES.get(name, name)


def _value(data: Mapping[str, Any], loc: tuple, fallback: Any) -> Any:
    node: Any = data
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return fallback
    return node


def problems_from_errors(errors: Iterable[Mapping[str, Any]], data: Mapping[str, Any]) -> list:
    """pydantic's ``ValidationError.errors()`` for ``data`` → readable problems (one per
    field, in the order found)."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for err in errors:
        loc = tuple(err.get("loc") or ())
        name = _field(loc)
        if name in seen:
            continue
        seen.add(name)
        found.append(_problem(err, name, _value(data, loc, err.get("input")), data))
    return found


def _problem(err: Mapping[str, Any], name: str, value: Any, data: Mapping[str, Any]) -> dict:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    msg = str(err.get("msg", ""))
    text = "" if isinstance(value, Mapping) or value is None else str(value)
    if kind == "missing" or (kind == "string_type" and not text):
        return problem(MISSING, field=name)
    if kind == "string_too_short":
        limit = ctx.get("min_length", 1)
        if limit <= 1 or not text:
            return problem(EMPTY, field=name)
        return problem(TOO_SHORT, field=name, value=text, limit=limit)
    if kind == "string_too_long":
        return problem(TOO_LONG, field=name, limit=ctx.get("max_length"))
    if kind == "enum":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return problem(NOT_ONE_OF, field=name, value=text, choices=", ".join(choices))
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return problem(NOT_A_NUMBER, field=name, value=text)
    if kind in ("greater_than_equal", "greater_than"):
        limit = ctx.get("ge", ctx.get("gt"))
        return problem(TOO_SMALL, field=name, value=text, limit=limit)
    if kind == "value_error":
        detail = msg.removeprefix("Value error, ")
        customer = data.get("customer") if isinstance(data.get("customer"), Mapping) else data
        if "email or a phone" in detail:
            return problem(NO_CONTACT)
        if "email address" in detail:
            return problem(BAD_EMAIL, value=text or customer.get("email", ""))
        if "phone number" in detail:
            country = customer.get("country") or ""
            return problem(BAD_PHONE, value=customer.get("phone", text), country=country)
        if "country code" in detail:
            return problem(BAD_COUNTRY, value=text)
        if "not a postcode" in detail:
            return problem(BAD_POSTCODE, value=text)
        if "time zone" in detail:
            return problem(BAD_TIMEZONE, value=text)
        if "tier must be" in detail:
            return problem(BAD_TIER, value=text)
        return problem(UNREADABLE, field=name, value=text, detail=detail)
    return problem(UNREADABLE, field=name, value=text, detail=msg)


def postcode_problem(postcode: str | None, country: str | None) -> dict[str, Any] | None:
    """A postcode that cannot be one of ``country``'s (only for the countries listed)."""
    pattern = POSTCODE_FORMATS.get((country or "").upper())
    if pattern is None or postcode is None or pattern.fullmatch(postcode):
        return None
    return problem(BAD_POSTCODE_FOR, value=postcode, country=country)


def describe(problem_: Mapping[str, Any], gettext: Callable[[str], str] = str) -> str:
    """One problem in words (``gettext`` translates the message)."""
    args = problem_.get("a") or {}
    try:
        return gettext(problem_["m"]) % args
    except (KeyError, TypeError, ValueError):  # a translation with a broken placeholder
        return problem_["m"] % args


def describe_row(row: int, problems: Iterable[Mapping], gettext: Callable[[str], str] = str) -> str:
    """``row 12: postcode '7501' is not a valid postcode for FR; phone …``."""
    text = "; ".join(describe(p, gettext) for p in problems)
    return gettext(ROW) % {"row": row, "problems": text}
