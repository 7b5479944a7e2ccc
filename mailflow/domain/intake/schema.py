"""The lead as every intake channel delivers it (the webhook's JSON schema).

Validation normalises as it goes: phones to E.164 (``phonenumbers``, the lead's country as
region), emails checked for syntax (``email-validator``, no network), country codes upper-case.
Pass ``context={"default_country": "FR"}`` to ``LeadIn.model_validate`` for leads without one.
"""

from __future__ import annotations

import enum
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class Product(enum.StrEnum):
    PV = "pv"
    HEAT_PUMP = "heat_pump"
    BATTERY = "battery"
    PV_BATTERY = "pv_battery"


class BuildingType(enum.StrEnum):
    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"
    INDUSTRIAL = "industrial"
    AGRICULTURAL = "agricultural"


class GridConnection(enum.StrEnum):
    ON_GRID = "on_grid"
    OFF_GRID = "off_grid"
    ZERO_INJECTION = "zero_injection"


class Source(enum.StrEnum):
    CALCULATOR = "calculator"
    LEADGEN = "leadgen"
    WEBHOOK = "webhook"
    EMAIL = "email"
    IMPORT = "import"
    MANUAL = "manual"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = " ".join(value.split())
        return value or None
    return value


def normalise_email(value: str) -> str:
    """Syntax-checked, domain lower-cased address; raises ValueError with a readable reason."""
    try:
        info = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return info.normalized


def normalise_phone(value: str, country: str | None) -> str:
    """E.164 form of ``value``; national numbers are read in ``country``."""
    try:
        number = phonenumbers.parse(value, (country or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a valid phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    street: str | None = Field(None, max_length=255)
    postcode: str = Field(min_length=2, max_length=16)
    city: str | None = Field(None, max_length=255)
    country: str | None = Field(None, min_length=2, max_length=2)
    language: str | None = Field(None, max_length=8)
    reachability: str | None = Field(None, max_length=255)

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return _clean(value)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str) -> str:
        value = value.upper()
        if not any(ch.isalnum() for ch in value):
            raise ValueError("not a postcode")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.isalpha():
            raise ValueError("must be an ISO 3166 alpha-2 country code")
        return value.upper()

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return value.lower().replace("_", "-").split("-")[0] if value else None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    @model_validator(mode="after")
    def _contact_and_phone(self, info: ValidationInfo) -> CustomerIn:
        if self.country is None:
            self.country = ((info.context or {}).get("default_country") or "FR").upper()
        if not self.email and not self.phone:
            raise ValueError("an email or a phone number is required")
        if self.phone:
            self.phone = normalise_phone(self.phone, self.country)
        return self


# the customer's fields a person enters or corrects (forms, extraction rules), in form order
CUSTOMER_FIELDS = (
    "name",
    "email",
    "phone",
    "street",
    "postcode",
    "city",
    "country",
    "language",
    "reachability",
)


class LeadIn(BaseModel):
    """A lead as delivered by a channel; the webhook body has exactly this shape."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str | None = Field(None, max_length=255)
    source: Source | None = None
    product: Product | None = None
    building_type: BuildingType | None = None
    grid_connection: GridConnection | None = None
    customer: CustomerIn
    message: str | None = Field(None, max_length=20000)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("external_id", mode="before")
    @classmethod
    def _external_id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return _clean(value)


def error_map(exc) -> dict[str, str]:
    """pydantic ValidationError → {"customer.email": "reason", ...}, for 422 answers and the
    quarantine reason."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        errors.setdefault(loc, msg)
    return errors
