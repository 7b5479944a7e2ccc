"""Full-text search over leads (name, email, phone, city) without scanning the leads table.

Each lead's words are kept, folded (lower case, accents removed), in ``lead_search_terms``;
a search word matches every term it is a prefix of (``dub`` finds Dubois), through the
primary-key index, on SQLite and PostgreSQL alike. Phone numbers are indexed by their digits in
international and national form (``+33 1 40 34 70 00`` → ``33140347000`` and ``0140347000``).

Leads are indexed by the ``lead_search`` sweep job (``Lead.search_version`` is NULL until then)
and at once when an admin edits or erases one. A lead not indexed yet is still found: the
search adds a substring match over the not-yet-indexed leads (an index range on
``search_version IS NULL``, a handful of rows between two sweeps).

Whoever changes a lead's name, email, phone or city outside the admin console sets
``lead.search_version = None`` (or calls :func:`reindex`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import phonenumbers
from sqlalchemy import delete, func, insert, or_, select, union, update
from sqlalchemy.orm import Session

from mailflow.config import Settings
from mailflow.db import is_postgres, session_scope
from mailflow.models import Lead, LeadSearchTerm

VERSION = 1
MAX_TERM = 64
MAX_WORDS = 6
_WORD = re.compile(r"\w+", re.UNICODE)
_PHONE_QUERY = re.compile(r"^[\d\s+()./\-]+$")
_TOP = "\U0010ffff"  # above every character: "dub" <= term < "dub\U0010ffff" is a prefix match


def fold(text: str | None) -> str:
    """Lower case without accents: ``Émilie`` → ``emilie``, ``Straße`` → ``strasse``."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str | None) -> list[str]:
    return [w[:MAX_TERM] for w in _WORD.findall(fold(text))]


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def phone_terms(phone: str | None, country: str | None) -> set[str]:
    if not phone:
        return set()
    terms = {_digits(phone)}
    try:
        number = phonenumbers.parse(phone, (country or "").upper() or None)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        terms.add(_digits(national))
        terms.add(str(number.national_number))
    except phonenumbers.NumberParseException:
        pass
    return {t[:MAX_TERM] for t in terms if t}


def lead_terms(
    name: str | None, email: str | None, phone: str | None, city: str | None, country: str | None
) -> set[str]:
    terms = set(words(name)) | set(words(city))
    if email:
        folded = fold(email)
        terms.add(folded[:MAX_TERM])
        terms.update(words(email))
        terms.add(folded.partition("@")[0][:MAX_TERM])
    terms |= phone_terms(phone, country)
    return {t for t in terms if t}


def query_words(q: str, default_country: str | None = None) -> list[list[str]]:
    """The search as groups of alternative prefixes: every group must match (AND), any prefix
    of a group may (OR)."""
    q = (q or "").strip()
    if not q:
        return []
    if _PHONE_QUERY.match(q) and len(_digits(q)) >= 4:
        digits = _digits(q)
        alternatives = {digits}
        if q.startswith("00"):
            alternatives.add(digits[2:])
        if default_country and not q.startswith(("+", "00")):
            alternatives |= phone_terms(q, default_country) if len(digits) >= 6 else set()
        return [sorted(a for a in alternatives if a)]
    return [[w] for w in words(q)[:MAX_WORDS]]


def _unindexed_match(prefixes: list[str]):
    """Substring match over leads not indexed yet (a few rows between two sweeps)."""
    conditions = []
    for prefix in prefixes:
        like = f"%{prefix}%"
        conditions += [
            func.lower(Lead.customer_name).like(like),
            func.lower(Lead.email).like(like),
            func.lower(Lead.city).like(like),
        ]
        if prefix.isdigit():
            conditions.append(Lead.phone.like(like))
    return select(Lead.id).where(Lead.search_version.is_(None), or_(*conditions))


def matching_ids(q: str, default_country: str | None = None) -> list:
    """One ``Lead.id IN (...)`` condition per word of the search; [] when there is no word."""
    conditions = []
    for prefixes in query_words(q, default_country):
        indexed = select(LeadSearchTerm.lead_id).where(
            or_(*((LeadSearchTerm.term >= p) & (LeadSearchTerm.term < p + _TOP) for p in prefixes))
        )
        conditions.append(Lead.id.in_(union(indexed, _unindexed_match(prefixes))))
    return conditions


def has_words(q: str | None) -> bool:
    return bool(query_words(q or ""))


# ------------------------------------------------------------------ indexing ---------------
def _write_terms(session: Session, rows: Iterable[tuple]) -> int:
    rows = list(rows)
    if not rows:
        return 0
    ids = [row[0] for row in rows]
    session.execute(delete(LeadSearchTerm).where(LeadSearchTerm.lead_id.in_(ids)))
    values = [
        {"term": term, "lead_id": lead_id}
        for lead_id, name, email, phone, city, country in rows
        for term in lead_terms(name, email, phone, city, country)
    ]
    if values:
        session.execute(insert(LeadSearchTerm), values)
    # updated_at keeps its value: indexing is not a change of the lead.
    session.execute(
        update(Lead)
        .where(Lead.id.in_(ids))
        .values(search_version=VERSION, updated_at=Lead.updated_at)
        .execution_options(synchronize_session=False)
    )
    return len(ids)


def reindex(session: Session, lead: Lead) -> None:
    """Index one lead now (after an edit or an erasure), in the caller's transaction."""
    session.flush()
    _write_terms(
        session, [(lead.id, lead.customer_name, lead.email, lead.phone, lead.city, lead.country)]
    )
    lead.search_version = VERSION


def index_pending(settings: Settings, *, batch: int = 2000, limit: int | None = None) -> int:
    """Index every lead whose terms are missing (``search_version`` NULL: new, or marked stale
    by setting it to NULL); returns how many were indexed."""
    done = 0
    while limit is None or done < limit:
        with session_scope(settings) as session:
            query = (
                select(Lead.id, Lead.customer_name, Lead.email, Lead.phone, Lead.city, Lead.country)
                .where(Lead.search_version.is_(None))
                .order_by(Lead.id)
                .limit(batch)
            )
            if is_postgres(session):
                # Two schedulers: each indexes the leads it could lock, never the same ones.
                query = query.with_for_update(of=Lead, skip_locked=True)
            rows = session.execute(query).all()
            done += _write_terms(session, rows)
        if len(rows) < batch:
            break
    return done
