"""The evidence a lead email gives of its country, as data: postcode formats, regions (states,
Länder, voivodeships, cantons), phone shapes, the countries of label languages and of domain
names, and how much each kind of evidence weighs. :func:`mailflow.domain.intake.places.infer_country`
scores them."""

from __future__ import annotations

import re

# Countries a national-format phone is tried in (``phonenumbers`` regions).
PHONE_REGIONS = (
    "FR",
    "DE",
    "PL",
    "AT",
    "CH",
    "BE",
    "LU",
    "NL",
    "GB",
    "IE",
    "US",
    "IT",
    "ES",
    "PT",
    "DK",
    "CZ",
)

# How much each kind of evidence weighs. "Strong" evidence names one country on its own; "soft"
# evidence (languages, domains, national phones) counts fully only where the postcode fits the
# country's format (see POSTCODE_FORMATS), else SOFT_MISFIT of it.
WEIGHTS = {
    "country_line": 100.0,  # "Country: Germany" (taken as it is, not scored)
    "phone_international": 6.0,  # "+44 20 7946 0958", "0049 …"
    "postcode_plate": 6.0,  # "D-04107", "CH-8001"
    "postcode_shape": 4.0,  # a format only one country uses: "SW1A 1AA", "80-831", "1012 AB"
    "region": 4.0,  # a state, Land, voivodeship, canton: "CA", "Texas", "Bayern", "Vaud"
    "phone_shape": 2.0,  # a national way of writing numbers: "(415) 555-0134", "06 12 34 56 78"
    "phone_valid": 2.0,  # shared by the countries where the national number is valid
    "email_domain": 1.5,  # the customer's address: "…@wp.pl", "…@web.de" (not gmail.com)
    "sender_domain": 1.0,  # the form or platform that sent the mail: "…@devis-solaire.fr"
    "language": 1.0,  # times LANGUAGE_COUNTRIES' share: the labels' language
    "default": 0.5,  # the configured default country, when nothing points elsewhere
}
SOFT_MISFIT = 0.25

# postcode formats (upper-case, spaces collapsed); a country not listed takes any postcode
POSTCODE_FORMATS: dict[str, re.Pattern[str]] = {
    code: re.compile(pattern)
    for code, pattern in {
        "FR": r"\d{5}",
        "DE": r"\d{5}",
        "IT": r"\d{5}",
        "ES": r"\d{5}",
        "US": r"\d{5}(-\d{4})?",
        "PL": r"\d{2}-?\d{3}",
        "AT": r"\d{4}",
        "CH": r"\d{4}",
        "BE": r"\d{4}",
        "LU": r"\d{4}",
        "DK": r"\d{4}",
        "NL": r"\d{4} ?[A-Z]{2}",
        "PT": r"\d{4}-\d{3}",
        "CZ": r"\d{3} ?\d{2}",
        "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
        "IE": r"[A-Z]\d[\dW] ?[A-Z\d]{4}",
    }.items()
}
# formats that name one country on their own (checked in order)
POSTCODE_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{2}-\d{3}"), "PL"),
    (re.compile(r"\d{4}-\d{3}"), "PT"),
    (re.compile(r"\d{5}-\d{4}"), "US"),
    (re.compile(r"\d{4} ?[A-Z]{2}"), "NL"),
    (re.compile(r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"), "GB"),
    (re.compile(r"[AC-FHKNPRTV-Y]\d[\dW] ?[AC-FHKNPRTV-Y\d]{4}"), "IE"),
)

# Ways of writing a national number that belong to one country (the number as written, spaces
# collapsed). A national number is also tried in PHONE_REGIONS with ``phonenumbers``.
PHONE_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(1[ .-]?)?\(\d{3}\) ?\d{3}[ .-]?\d{4}"), "US"),  # (415) 555-0134
    (re.compile(r"(1[ .-])?\d{3}[.-]\d{3}[.-]\d{4}"), "US"),  # 415-555-0134, 415.555.0134
    (re.compile(r"04\d{2}( \d{2}){3}|04\d{2}/\d{2} ?\d{2} ?\d{2}"), "BE"),  # 0470 12 34 56
    (re.compile(r"0[1-9]( ?\d\d){4}"), "FR"),  # 06 12 34 56 78
    (re.compile(r"0[1-9](\.\d\d){4}"), "FR"),  # 06.12.34.56.78
    (re.compile(r"07\d{3} ?\d{6}"), "GB"),  # 07700 900123
    # 020 7946 0958, 0161 496 0000, 01632 960123 (spaced the British way)
    (re.compile(r"0(2\d \d{4} \d{4}|1\d{2} \d{3} \d{4}|1\d{3} \d{5,6}|1\d{3} \d{3} \d{3})"), "GB"),
    (re.compile(r"[4-8]\d{2}[ -]\d{3}[ -]\d{3}"), "PL"),  # 600 100 200
    (re.compile(r"01[5-7]\d{1,2}[ /-]?\d{6,8}"), "DE"),  # 0171 2345678 (mobile)
    (re.compile(r"0[67]\d{2} ?\d{3} ?\d{3,4}"), "AT"),  # 0664 123 4567
    (re.compile(r"07[5-9] ?\d{3} ?\d{2} ?\d{2}"), "CH"),  # 079 123 45 67
)

# The countries a label language points to, and how much (the first is the likeliest).
LANGUAGE_COUNTRIES: dict[str, dict[str, float]] = {
    "de": {"DE": 1.5, "AT": 1.0, "CH": 0.8, "LU": 0.3},
    "fr": {"FR": 1.5, "BE": 1.0, "CH": 0.8, "LU": 0.5},
    "pl": {"PL": 2.0},
    # English is every platform's language: it hints, never decides alone
    "en": {"GB": 0.4, "US": 0.4, "IE": 0.2},
}

# Top-level domains of countries (a "co.uk" counts as "uk"); generic ones (com, net, org, eu,
# io, example …) say nothing.
DOMAIN_COUNTRIES = {
    "fr": "FR",
    "de": "DE",
    "pl": "PL",
    "at": "AT",
    "ch": "CH",
    "li": "CH",
    "be": "BE",
    "lu": "LU",
    "nl": "NL",
    "uk": "GB",
    "ie": "IE",
    "us": "US",
    "it": "IT",
    "es": "ES",
    "pt": "PT",
    "dk": "DK",
    "cz": "CZ",
}

# Regions that name a country: code → names (and, for US states, their two-letter codes, which
# count only as a whole value or after a comma: "Austin, TX 78701").
US_STATES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
}
REGION_NAMES: dict[str, tuple[str, ...]] = {
    "US": tuple(US_STATES.values()),
    "DE": (
        "Baden-Württemberg",
        "Bayern",
        "Bavaria",
        "Berlin",
        "Brandenburg",
        "Bremen",
        "Hamburg",
        "Hessen",
        "Mecklenburg-Vorpommern",
        "Niedersachsen",
        "Nordrhein-Westfalen",
        "NRW",
        "Rheinland-Pfalz",
        "Saarland",
        "Sachsen",
        "Sachsen-Anhalt",
        "Schleswig-Holstein",
        "Thüringen",
    ),
    "AT": (
        "Burgenland",
        "Kärnten",
        "Niederösterreich",
        "Oberösterreich",
        "Salzburg",
        "Steiermark",
        "Tirol",
        "Vorarlberg",
        "Wien",
    ),
    "CH": (
        "Aargau",
        "Appenzell",
        "Basel-Landschaft",
        "Basel-Stadt",
        "Bern",
        "Berne",
        "Fribourg",
        "Genève",
        "Genf",
        "Glarus",
        "Graubünden",
        "Luzern",
        "Neuchâtel",
        "Nidwalden",
        "Obwalden",
        "Schaffhausen",
        "Schwyz",
        "Solothurn",
        "St. Gallen",
        "Tessin",
        "Ticino",
        "Thurgau",
        "Uri",
        "Valais",
        "Wallis",
        "Vaud",
        "Waadt",
        "Zug",
        "Zürich",
    ),
    "PL": (
        "dolnośląskie",
        "kujawsko-pomorskie",
        "lubelskie",
        "lubuskie",
        "łódzkie",
        "małopolskie",
        "mazowieckie",
        "opolskie",
        "podkarpackie",
        "podlaskie",
        "pomorskie",
        "śląskie",
        "świętokrzyskie",
        "warmińsko-mazurskie",
        "wielkopolskie",
        "zachodniopomorskie",
    ),
    "FR": (
        "Auvergne-Rhône-Alpes",
        "Bourgogne-Franche-Comté",
        "Bretagne",
        "Centre-Val de Loire",
        "Corse",
        "Grand Est",
        "Hauts-de-France",
        "Île-de-France",
        "Normandie",
        "Nouvelle-Aquitaine",
        "Occitanie",
        "Pays de la Loire",
        "Provence-Alpes-Côte d'Azur",
        "PACA",
    ),
    "BE": ("Wallonie", "Wallonia", "Flandre", "Vlaanderen", "Flanders", "Bruxelles-Capitale"),
    "GB": ("England", "Scotland", "Wales", "Northern Ireland", "Greater London"),
}
