"""Label vocabularies of lead emails (English, French, German, Polish) and their resolution.

A label is compared in its normalised form (lower-case, accents stripped, punctuation collapsed:
``"Intéressé par une solution de stockage ?"`` → ``"interesse par une solution de stockage"``).
Resolution tries, in order: the exact vocabulary, the label without units and parentheses, then
keyword rules for the many ways forms phrase the same question. Each vocabulary entry carries
the language(s) it belongs to, so the labels of a lead also tell its language.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from mailflow.inbound.values import normalise_words

# field keys that are not LeadIn/CustomerIn/details names
FIRST_NAME = "first_name"
LAST_NAME = "last_name"
HOUSE_NUMBER = "house_number"
POSTCODE_CITY = "postcode_city"
SUBJECT = "subject"  # a "Subject:" line (inline forwards): its ID counts
IGNORED = "ignored"  # mail headers of inline forwards, MIME headers of broken messages

CUSTOMER_KEYS = (
    "name",
    FIRST_NAME,
    LAST_NAME,
    "email",
    "phone",
    "street",
    HOUSE_NUMBER,
    "postcode",
    "city",
    POSTCODE_CITY,
)

NUMBER_DETAILS = (
    "household_size",
    "annual_consumption_kwh",
    "electricity_price_ct_kwh",
    "roof_area_m2",
    "roof_pitch_deg",
    "roof_orientation_deg",
    "module_count",
    "cost_monthly_with_pv",
    "cost_monthly_without_pv",
    "savings_monthly",
    "savings_yearly",
    "savings_20y",
    "co2_savings_kg",
    "trees",
)
BOOL_DETAILS = ("storage_interest", "battery", "heat_pump")
TEXT_DETAILS = ("main_consumption", "module")
DETAIL_KEYS = NUMBER_DETAILS + BOOL_DETAILS + TEXT_DETAILS
INTEGER_DETAILS = ("household_size", "module_count", "trees")

ANY = "*"  # a label shared by all four languages: no vote

# key → language → labels as written; normalised at import.
_VOCABULARY: dict[str, dict[str, tuple[str, ...]]] = {
    "name": {
        "en": ("Name", "Full name", "Your name", "Contact name", "Customer name", "Customer"),
        "de": ("Name", "Vollständiger Name", "Ihr Name", "Kunde", "Kundenname", "Ansprechpartner"),
        "fr": ("Nom", "Nom complet", "Nom et prénom", "Prénom et nom", "Nom prénom", "Votre nom"),
        "pl": ("Imię i nazwisko", "Nazwisko i imię", "Imię nazwisko", "Klient", "Nazwa klienta"),
    },
    FIRST_NAME: {
        "en": ("First name", "Firstname", "Given name", "Forename"),
        "de": ("Vorname",),
        "fr": ("Prénom",),
        "pl": ("Imię",),
    },
    LAST_NAME: {
        "en": ("Last name", "Lastname", "Surname", "Family name"),
        "de": ("Nachname", "Familienname"),
        "fr": ("Nom de famille",),
        "pl": ("Nazwisko",),
    },
    "email": {
        ANY: ("E-Mail", "Email", "Mail", "E-mail address", "Email address"),
        "en": ("Email address", "Your email", "E-mail address"),
        "de": ("E-Mail-Adresse", "Emailadresse", "Ihre E-Mail", "Mailadresse"),
        "fr": ("Courriel", "Adresse e-mail", "Adresse email", "Adresse électronique", "Mél"),
        "pl": ("Adres e-mail", "Adres email", "Poczta e-mail"),
    },
    "phone": {
        "en": (
            "Phone",
            "Phone number",
            "Telephone number",
            "Mobile",
            "Mobile phone",
            "Cell",
            "Cell phone",
            "Tel",
            "Tel.",
        ),
        "de": (
            "Telefon",
            "Telefonnummer",
            "Tel",
            "Handy",
            "Handynummer",
            "Mobil",
            "Mobilnummer",
            "Mobiltelefon",
            "Rufnummer",
            "Festnetz",
        ),
        "fr": (
            "Téléphone",
            "Tél",
            "Numéro de téléphone",
            "Portable",
            "Téléphone portable",
            "Mobile",
            "Numéro de portable",
            "GSM",
        ),
        "pl": (
            "Telefon",
            "Numer telefonu",
            "Nr telefonu",
            "Nr tel",
            "Telefon komórkowy",
            "Komórka",
            "Tel. kom.",
        ),
    },
    "street": {
        "en": ("Street", "Street address", "Address", "Address line 1", "Postal address"),
        "de": (
            "Straße",
            "Strasse",
            "Straße und Hausnummer",
            "Straße, Hausnummer",
            "Straße / Nr.",
            "Straße Nr",
            "Adresse",
            "Anschrift",
        ),
        "fr": ("Rue", "Adresse", "Adresse postale", "Voie", "N° et rue", "Numéro et rue"),
        "pl": ("Ulica", "Ulica i numer", "Ulica, nr domu", "Adres", "Adres zamieszkania"),
    },
    HOUSE_NUMBER: {
        "en": ("House number", "House no", "Street number"),
        "de": ("Hausnummer", "Hausnr"),
        "fr": ("Numéro de rue", "N° de rue", "Numéro de voie"),
        "pl": ("Numer domu", "Nr domu", "Numer budynku", "Nr budynku"),
    },
    "postcode": {
        "en": ("Postcode", "Post code", "Postal code", "ZIP", "ZIP code", "Zipcode"),
        "de": ("PLZ", "Postleitzahl"),
        "fr": ("Code postal", "CP", "NPA"),
        "pl": ("Kod pocztowy", "Kod"),
    },
    POSTCODE_CITY: {
        "en": (
            "Postcode / City",
            "Postcode and city",
            "ZIP / City",
            "Zip code / City",
            "Postal code / City",
            "City / ZIP",
        ),
        "de": (
            "PLZ / Ort",
            "PLZ und Ort",
            "PLZ Ort",
            "PLZ / Wohnort",
            "Postleitzahl / Ort",
            "PLZ / Stadt",
            "Ort / PLZ",
        ),
        "fr": ("CP / Ville", "Code postal / Ville", "Code postal et ville", "Ville / Code postal"),
        "pl": (
            "Kod pocztowy i miejscowość",
            "Kod pocztowy / Miejscowość",
            "Kod i miejscowość",
            "Kod pocztowy / Miasto",
        ),
    },
    "city": {
        "en": ("City", "Town", "Locality"),
        "de": ("Ort", "Stadt", "Wohnort", "Gemeinde"),
        "fr": ("Ville", "Commune", "Localité"),
        "pl": ("Miasto", "Miejscowość", "Gmina"),
    },
    "country": {
        "en": ("Country",),
        "de": ("Land", "Staat"),
        "fr": ("Pays",),
        "pl": ("Kraj", "Państwo"),
    },
    "language": {
        "en": ("Language", "Preferred language"),
        "de": ("Sprache", "Bevorzugte Sprache"),
        "fr": ("Langue", "Langue préférée"),
        "pl": ("Język", "Preferowany język"),
    },
    "reachability": {
        "en": (
            "Reachability",
            "Availability",
            "Best time to call",
            "Best time to reach",
            "Best time to contact",
            "Preferred contact time",
            "Callback time",
        ),
        "de": (
            "Erreichbarkeit",
            "Erreichbar",
            "Beste Erreichbarkeit",
            "Am besten erreichbar",
            "Bevorzugte Kontaktzeit",
            "Rückrufzeit",
            "Telefonisch erreichbar",
        ),
        "fr": (
            "Joignabilité",
            "Disponibilité",
            "Disponibilités",
            "Horaire de rappel",
            "Créneau de rappel",
            "Meilleur moment pour vous joindre",
            "Joignable",
        ),
        "pl": ("Dostępność", "Godziny kontaktu", "Preferowany czas kontaktu", "Kiedy dzwonić"),
    },
    "message": {
        "en": (
            "Message",
            "Your message",
            "Comment",
            "Comments",
            "Notes",
            "Note",
            "Additional information",
            "Remarks",
        ),
        "de": (
            "Kommentar",
            "Nachricht",
            "Ihre Nachricht",
            "Bemerkung",
            "Bemerkungen",
            "Anmerkung",
            "Anmerkungen",
            "Mitteilung",
            "Anliegen",
        ),
        "fr": (
            "Message",
            "Votre message",
            "Commentaire",
            "Commentaires",
            "Remarque",
            "Remarques",
            "Précisions",
        ),
        "pl": ("Wiadomość", "Treść wiadomości", "Komentarz", "Uwagi", "Dodatkowe informacje"),
    },
    "product": {
        "en": ("Product", "Product type", "Interest", "Interested in", "Solution", "Project type"),
        "de": (
            "Produkt",
            "Produktart",
            "Interesse",
            "Interesse an",
            "Interessiert an",
            "Anlagentyp",
            "Systemtyp",
            "Anfrage zu",
            "Projektart",
        ),
        "fr": (
            "Produit",
            "Type de produit",
            "Intérêt",
            "Intéressé par",
            "Type de projet",
            "Projet",
            "Type d'installation",
            "Solution souhaitée",
        ),
        "pl": (
            "Produkt",
            "Zainteresowanie",
            "Rodzaj instalacji",
            "Typ instalacji",
            "Zainteresowany",
        ),
    },
    "building_type": {
        "en": ("Building type", "Type of building", "Property type", "Lead type"),
        "de": ("Gebäudeart", "Gebäudetyp", "Art des Gebäudes", "Objektart", "Objekttyp", "Haustyp"),
        "fr": ("Type de bâtiment", "Type de logement", "Type de bien", "Type d'habitation"),
        "pl": ("Rodzaj budynku", "Typ budynku", "Typ obiektu", "Rodzaj obiektu", "Typ leada"),
    },
    "grid_connection": {
        "en": ("Grid connection", "Grid type", "Connection type", "Grid"),
        "de": ("Netzanschluss", "Netzart", "Anschlussart", "Einspeisung", "Einspeiseart"),
        "fr": ("Raccordement", "Type de raccordement", "Raccordement au réseau", "Injection"),
        "pl": ("Typ przyłącza do sieci", "Przyłącze", "Typ przyłącza", "Przyłącze do sieci"),
    },
    "external_id": {
        ANY: ("ID",),
        "en": ("Lead ID", "Lead number", "Request ID", "Reference", "Reference number", "Ref"),
        "de": (
            "Lead-ID",
            "Lead-Nr",
            "Anfrage-Nr",
            "Anfragenummer",
            "Anfrage-ID",
            "Referenz",
            "Vorgangsnummer",
        ),
        "fr": ("Référence", "Réf", "Numéro de demande", "N° de demande", "Numéro", "Identifiant"),
        "pl": ("Numer", "Numer leada", "ID leada", "Numer zgłoszenia", "Nr zgłoszenia"),
    },
    "source": {
        "en": ("Source", "Lead source"),
        "de": ("Quelle", "Lead-Quelle"),
        "fr": ("Origine", "Provenance"),
        "pl": ("Źródło", "Źródło leada"),
    },
    "household_size": {
        "en": (
            "Household size",
            "Number of persons",
            "Number of people",
            "Persons",
            "People in household",
            "Residents",
        ),
        "de": (
            "Anzahl Personen",
            "Anzahl der Personen",
            "Personen im Haushalt",
            "Personen",
            "Haushaltsgröße",
        ),
        "fr": (
            "Nombre de personnes",
            "Personnes",
            "Nombre d'occupants",
            "Taille du foyer",
            "Personnes dans le foyer",
        ),
        "pl": ("Liczba osób", "Liczba osób w gospodarstwie domowym", "Osoby", "Liczba mieszkańców"),
    },
    "annual_consumption_kwh": {
        "en": (
            "Annual consumption",
            "Electricity consumption",
            "Annual electricity consumption",
            "Consumption",
            "Yearly consumption",
            "Power consumption",
        ),
        "de": (
            "Stromverbrauch",
            "Jahresverbrauch",
            "Jahresstromverbrauch",
            "Verbrauch",
            "Jährlicher Stromverbrauch",
            "Stromverbrauch pro Jahr",
        ),
        "fr": (
            "Consommation électrique",
            "Consommation",
            "Consommation annuelle",
            "Consommation d'électricité",
            "Consommation annuelle d'électricité",
        ),
        "pl": (
            "Zużycie energii",
            "Roczne zużycie energii",
            "Zużycie prądu",
            "Roczne zużycie prądu",
            "Zużycie energii elektrycznej",
        ),
    },
    "electricity_price_ct_kwh": {
        "en": ("Electricity price", "Average electricity price", "Price per kWh", "Energy price"),
        "de": (
            "Strompreis",
            "Durchschn. Strompreis",
            "Durchschnittlicher Strompreis",
            "Arbeitspreis",
        ),
        "fr": ("Prix de l'électricité", "Prix du kWh", "Prix moyen de l'électricité"),
        "pl": ("Cena prądu", "Cena energii", "Średnia cena prądu"),
    },
    "main_consumption": {
        "en": ("Main consumption", "Main consumption time", "Peak usage"),
        "de": ("Hauptverbrauch", "Hauptverbrauchszeit"),
        "fr": ("Consommation principale", "Période de consommation principale"),
        "pl": ("Główne zużycie", "Główny czas zużycia"),
    },
    "roof_area_m2": {
        "en": ("Roof area", "Roof surface", "Usable roof area"),
        "de": ("Dachfläche", "Nutzbare Dachfläche"),
        "fr": ("Surface de toit", "Surface du toit", "Surface de toiture"),
        "pl": ("Powierzchnia dachu",),
    },
    "roof_pitch_deg": {
        "en": ("Roof pitch", "Pitch", "Roof tilt", "Tilt", "Roof slope", "Roof angle"),
        "de": ("Dachneigung", "Neigung", "Neigungswinkel"),
        "fr": ("Pente du toit", "Pente", "Inclinaison", "Inclinaison du toit"),
        "pl": ("Nachylenie dachu", "Kąt nachylenia dachu", "Kąt nachylenia"),
    },
    "roof_orientation_deg": {
        "en": ("Roof orientation", "Azimuth"),
        "de": ("Dachausrichtung", "Ausrichtung"),
        "fr": ("Orientation du toit", "Azimut"),
        "pl": ("Orientacja dachu", "Orientacja", "Azymut"),
        ANY: ("Orientation",),
    },
    "module": {
        ANY: ("Module", "Modul"),
        "en": ("Selected module", "Module type", "Panel type", "Panel"),
        "de": ("Gewähltes Modul", "Modultyp"),
        "fr": ("Module choisi", "Modèle de module", "Panneau"),
        "pl": ("Moduł", "Wybrany moduł", "Typ modułu", "Panel fotowoltaiczny"),
    },
    "module_count": {
        "en": ("Module count", "Number of modules", "Number of panels", "Panel count", "Modules"),
        "de": ("Modulanzahl", "Anzahl Module", "Anzahl der Module", "Anzahl Module"),
        "fr": ("Nombre de modules", "Nombre de panneaux"),
        "pl": ("Liczba modułów", "Liczba paneli"),
    },
    "storage_interest": {
        "en": ("Storage interest", "Interested in storage", "Interested in a battery"),
        "de": (
            "An Speicherlösung interessiert",
            "Speicher gewünscht",
            "Interesse an Speicher",
            "Speicherinteresse",
        ),
        "fr": (
            "Intéressé par une solution de stockage",
            "Intéressé par le stockage",
            "Stockage souhaité",
        ),
        "pl": ("Zainteresowany magazynem energii", "Zainteresowanie magazynem energii"),
    },
    "battery": {
        "en": ("Battery", "Battery storage"),
        "de": ("Batterie", "Speicher", "Batteriespeicher", "Stromspeicher"),
        "fr": ("Batterie", "Stockage"),
        "pl": ("Bateria", "Magazyn energii", "Akumulator"),
    },
    "heat_pump": {
        "en": ("Heat pump",),
        "de": ("Wärmepumpe",),
        "fr": ("Pompe à chaleur",),
        "pl": ("Pompa ciepła",),
    },
    "co2_savings_kg": {
        "en": ("CO2 savings", "CO2 saved"),
        "de": ("CO2-Ersparnis", "CO2-Einsparung"),
        "fr": ("CO2-Économies", "Économies de CO2", "Économies CO2"),
        "pl": ("Oszczędność CO2", "Redukcja CO2"),
    },
    "trees": {
        "en": ("Trees", "Trees planted"),
        "de": ("Gepflanzte Bäume", "Bäume"),
        "fr": ("Arbres plantés", "Arbres"),
        "pl": ("Posadzone drzewa", "Drzewa"),
    },
    SUBJECT: {ANY: ("Subject", "Betreff", "Objet", "Temat")},
    IGNORED: {
        ANY: (
            "From",
            "To",
            "Cc",
            "Bcc",
            "Sent",
            "Von",
            "An",
            "Gesendet",
            "De",
            "À",
            "Envoyé",
            "Od",
            "Do",
            "Wysłano",
            "Reply-To",
            "Content-Type",
            "Content-Transfer-Encoding",
            "Content-Disposition",
            "MIME-Version",
            "Message-ID",
        ),
    },
}


def _build_lookup() -> dict[str, tuple[str, frozenset[str]]]:
    lookup: dict[str, tuple[str, set[str]]] = {}
    for key, by_language in _VOCABULARY.items():
        # the schema's own field names ("postcode", "annual_consumption_kwh") are labels too:
        # they are what flat JSON attachments use
        own = normalise_words(key.replace("_", " "))
        lookup.setdefault(own, (key, set()))
        for language, labels in by_language.items():
            for label in labels:
                normalised = normalise_words(label)
                known_key, languages = lookup.setdefault(normalised, (key, set()))
                if known_key != key:
                    raise ValueError(f"label {label!r} means both {known_key} and {key}")
                if language != ANY:
                    languages.add(language)
    return {label: (key, frozenset(languages)) for label, (key, languages) in lookup.items()}


LOOKUP = _build_lookup()

# Keyword rules for labels the vocabulary does not list verbatim: every word must occur (words
# of up to four letters as whole tokens, longer ones anywhere in a token, so German compounds
# match). Checked in order: the more specific first.
_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("co2",), "co2_savings_kg"),
    (("speicher", "interess"), "storage_interest"),
    (("stockage", "interess"), "storage_interest"),
    (("batter", "interes"), "storage_interest"),
    (("storage", "interest"), "storage_interest"),
    (("magazyn", "zainteres"), "storage_interest"),
    (("imie", "nazwisk"), "name"),
    (("vorname",), FIRST_NAME),
    (("prenom",), FIRST_NAME),
    (("first", "name"), FIRST_NAME),
    (("nachname",), LAST_NAME),
    (("nazwisk",), LAST_NAME),
    (("surname",), LAST_NAME),
    (("last", "name"), LAST_NAME),
    (("nom", "famille"), LAST_NAME),
    (("erreichbar",), "reachability"),
    (("joignab",), "reachability"),
    (("disponib",), "reachability"),
    (("dostepn",), "reachability"),
    (("reachab",), "reachability"),
    (("best", "time"), "reachability"),
    (("mail",), "email"),
    (("email",), "email"),
    (("courriel",), "email"),
    (("hausnummer",), HOUSE_NUMBER),
    (("house", "number"), HOUSE_NUMBER),
    (("numer", "domu"), HOUSE_NUMBER),
    (("telefon",), "phone"),
    (("telephon",), "phone"),
    (("phone",), "phone"),
    (("handy",), "phone"),
    (("mobil",), "phone"),
    (("portable",), "phone"),
    (("komork",), "phone"),
    (("plz", "ort"), POSTCODE_CITY),
    (("postleitzahl", "ort"), POSTCODE_CITY),
    (("code", "postal", "ville"), POSTCODE_CITY),
    (("kod", "miejscow"), POSTCODE_CITY),
    (("kod", "miasto"), POSTCODE_CITY),
    (("zip", "city"), POSTCODE_CITY),
    (("postcode", "city"), POSTCODE_CITY),
    (("postleitzahl",), "postcode"),
    (("plz",), "postcode"),
    (("code", "postal"), "postcode"),
    (("kod", "poczt"), "postcode"),
    (("zip",), "postcode"),
    (("postcode",), "postcode"),
    (("postal", "code"), "postcode"),
    (("hauptverbrauch",), "main_consumption"),
    (("consommation", "principal"), "main_consumption"),
    (("glown", "zuzyc"), "main_consumption"),
    (("main", "consumption"), "main_consumption"),
    (("strompreis",), "electricity_price_ct_kwh"),
    (("prix", "electricite"), "electricity_price_ct_kwh"),
    (("prix", "kwh"), "electricity_price_ct_kwh"),
    (("cena", "prad"), "electricity_price_ct_kwh"),
    (("cena", "energi"), "electricity_price_ct_kwh"),
    (("price", "electricity"), "electricity_price_ct_kwh"),
    (("price", "kwh"), "electricity_price_ct_kwh"),
    (("stromverbrauch",), "annual_consumption_kwh"),
    (("jahresverbrauch",), "annual_consumption_kwh"),
    (("consommation",), "annual_consumption_kwh"),
    (("zuzyc", "energi"), "annual_consumption_kwh"),
    (("zuzyc", "prad"), "annual_consumption_kwh"),
    (("consumption",), "annual_consumption_kwh"),
    (("dachflache",), "roof_area_m2"),
    (("surface", "toit"), "roof_area_m2"),
    (("surface", "toiture"), "roof_area_m2"),
    (("powierzchni", "dach"), "roof_area_m2"),
    (("roof", "area"), "roof_area_m2"),
    (("neigung",), "roof_pitch_deg"),
    (("pente",), "roof_pitch_deg"),
    (("inclinaison",), "roof_pitch_deg"),
    (("nachyleni",), "roof_pitch_deg"),
    (("pitch",), "roof_pitch_deg"),
    (("tilt",), "roof_pitch_deg"),
    (("ausrichtung",), "roof_orientation_deg"),
    (("orientation",), "roof_orientation_deg"),
    (("orientacj",), "roof_orientation_deg"),
    (("azimut",), "roof_orientation_deg"),
    (("azymut",), "roof_orientation_deg"),
    (("modulanzahl",), "module_count"),
    (("anzahl", "modul"), "module_count"),
    (("nombre", "module"), "module_count"),
    (("nombre", "panneau"), "module_count"),
    (("liczba", "modul"), "module_count"),
    (("liczba", "panel"), "module_count"),
    (("number", "module"), "module_count"),
    (("number", "panel"), "module_count"),
    (("modul",), "module"),
    (("anzahl", "person"), "household_size"),
    (("personen",), "household_size"),
    (("nombre", "personne"), "household_size"),
    (("liczba", "osob"), "household_size"),
    (("household",), "household_size"),
    (("baume",), "trees"),
    (("arbre",), "trees"),
    (("drzew",), "trees"),
    (("tree",), "trees"),
    (("warmepumpe",), "heat_pump"),
    (("pompe", "chaleur"), "heat_pump"),
    (("pompa", "ciepl"), "heat_pump"),
    (("heat", "pump"), "heat_pump"),
    (("strasse",), "street"),
    (("ulica",), "street"),
    (("street",), "street"),
    (("adresse",), "street"),
    (("adres",), "street"),
    (("address",), "street"),
    (("anschrift",), "street"),
    (("wohnort",), "city"),
    (("ville",), "city"),
    (("miasto",), "city"),
    (("miejscowo",), "city"),
    (("city",), "city"),
    (("country",), "country"),
    (("sprache",), "language"),
    (("langue",), "language"),
    (("jezyk",), "language"),
    (("language",), "language"),
    (("kommentar",), "message"),
    (("nachricht",), "message"),
    (("bemerkung",), "message"),
    (("anmerkung",), "message"),
    (("mitteilung",), "message"),
    (("message",), "message"),
    (("commentaire",), "message"),
    (("remarque",), "message"),
    (("wiadomo",), "message"),
    (("komentarz",), "message"),
    (("uwag",), "message"),
    (("comment",), "message"),
    (("gebaude",), "building_type"),
    (("batiment",), "building_type"),
    (("budynk",), "building_type"),
    (("building",), "building_type"),
    (("logement",), "building_type"),
    (("habitation",), "building_type"),
    (("netzanschluss",), "grid_connection"),
    (("einspeis",), "grid_connection"),
    (("raccordement",), "grid_connection"),
    (("przylacz",), "grid_connection"),
    (("grid",), "grid_connection"),
    (("produkt",), "product"),
    (("produit",), "product"),
    (("product",), "product"),
    (("interess",), "product"),
    (("zainteres",), "product"),
    (("lead", "id"), "external_id"),
    (("referen",), "external_id"),
    (("anfragenummer",), "external_id"),
    (("numer", "zgloszeni"), "external_id"),
    (("batterie",), "battery"),
    (("battery",), "battery"),
    (("bateria",), "battery"),
    (("speicher",), "battery"),
    (("magazyn", "energi"), "battery"),
)

# Words of cost and savings tables, whose labels ("Mit PV-Anlage", "Ersparnis") only make sense
# with their column or section heading ("KOSTEN PRO MONAT").
_SAVINGS_WORDS = ("ersparnis", "einsparung", "econom", "saving", "oszczedn")
_COST_WORDS = ("kosten", "cout", "couts", "cost", "costs", "koszt", "rachun")
_WITH_PV = re.compile(r"\b(mit|avec|with|z)\b.*\b(pv|photovolta\w*|fotowolta\w*|solar\w*|instal)")
_WITHOUT_PV = re.compile(
    r"\b(ohne|sans|without|bez)\b.*\b(pv|photovolta\w*|fotowolta\w*|solar\w*|instal)"
)
_PERIOD_20Y = re.compile(r"\b20\s*(jahre\w*|ans|years?|lat)\b")
_PERIOD_MONTH = re.compile(r"\b(monat\w*|mensuel\w*|mois|month\w*|miesi\w*|mtl)\b")
_PERIOD_YEAR = re.compile(r"\b(jahr\w*|annuel\w*|annee\w*|an|year\w*|annual\w*|rok\w*|roczn\w*)\b")
_UNITS = re.compile(r"\b(in|en|w|kwh|mwh|m2|qm|ct|cent|eur|euro|euros|zl|pln|deg|grad|kg|stk)\b")


def _word_in(word: str, tokens: list[str]) -> bool:
    if len(word) <= 4:
        return word in tokens
    return any(word in token for token in tokens)


def _period(text: str) -> str | None:
    if _PERIOD_20Y.search(text):
        return "20y"
    if _PERIOD_MONTH.search(text):
        return "monthly"
    if _PERIOD_YEAR.search(text):
        return "yearly"
    return None


def _money_key(label: str, heading: str) -> str | None:
    """cost_monthly_with_pv … savings_20y for a cost/savings label under ``heading``."""
    tokens = label.split()
    both = f"{label} {heading}"
    savings = any(_word_in(word, tokens) for word in _SAVINGS_WORDS)
    cost = not savings and any(_word_in(word, both.split()) for word in _COST_WORDS)
    with_pv = bool(_WITH_PV.search(label))
    without_pv = bool(_WITHOUT_PV.search(label))
    if not savings and not cost and not (with_pv or without_pv):
        return None
    period = _period(label) or _period(heading)
    if savings:
        return {"monthly": "savings_monthly", "yearly": "savings_yearly", "20y": "savings_20y"}.get(
            period or ""
        )
    if (cost or with_pv or without_pv) and period == "monthly" and (cost or _period(heading)):
        if without_pv:
            return "cost_monthly_without_pv"
        if with_pv:
            return "cost_monthly_with_pv"
    return None


def is_money_label(label: str) -> bool:
    """Whether a label belongs to a cost/savings table (its meaning depends on the heading)."""
    tokens = label.split()
    return any(_word_in(word, tokens) for word in _SAVINGS_WORDS + _COST_WORDS) or bool(
        _WITH_PV.search(label) or _WITHOUT_PV.search(label)
    )


@dataclass(frozen=True)
class Resolved:
    key: str
    languages: frozenset[str]


@functools.lru_cache(maxsize=4096)
def resolve(label: str, heading: str = "") -> Resolved | None:
    """The field a label means (``"PLZ"`` → postcode), or None for an unknown label.

    ``heading`` is the section or column heading above the label, used for cost and savings
    tables.
    """
    text = normalise_words(label)
    if not text or len(text) > 80:
        return None
    hit = LOOKUP.get(text)
    if hit:
        return Resolved(*hit)
    bare = _UNITS.sub(" ", normalise_words(re.sub(r"\(.*?\)", " ", label)))
    bare = " ".join(bare.split())
    if bare and bare in LOOKUP:
        return Resolved(*LOOKUP[bare])
    if "co2" not in text.split():
        money = _money_key(text, normalise_words(heading))
        if money:
            return Resolved(money, frozenset())
        if is_money_label(text):
            return None  # a cost figure this schema has no key for: keep it under extra
    tokens = text.split()
    for words, key in _RULES:
        if all(_word_in(word, tokens) for word in words):
            return Resolved(key, frozenset())
    return None


def vote_language(votes: Mapping[str, float]) -> str | None:
    """The language most labels were written in, if one leads."""
    ranked = Counter(votes).most_common(2)
    if not ranked or ranked[0][1] <= 0:
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]
