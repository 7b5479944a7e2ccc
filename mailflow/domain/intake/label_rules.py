"""The keyword rules of label resolution, as data: the words that name a field when the vocabulary
does not list a label verbatim, and the words and periods of cost and savings tables."""

from __future__ import annotations

import re

from mailflow.domain.intake.label_data import (
    COMPANY,
    FIRST_NAME,
    HOUSE_NUMBER,
    LAST_NAME,
    POSTCODE_CITY,
    REGION,
)

# Keyword rules for labels the vocabulary does not list verbatim: every word must occur (words
# of up to four letters as whole tokens, longer ones anywhere in a token, so German compounds
# match; a word written "=word" counts only as a whole word: "=state" is not in "statement").
# Every rule that matches is scored by how much of the label it explains (see
# ``labels.best_reading``) together with the vocabulary's phrases: the order below only breaks
# ties.
RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("co2",), "co2_savings_kg"),
    (("speicher", "interess"), "storage_interest"),
    (("stockage", "interess"), "storage_interest"),
    (("batter", "interes"), "storage_interest"),
    (("storage", "interest"), "storage_interest"),
    (("magazyn", "zainteres"), "storage_interest"),
    (("imie", "nazwisk"), "name"),
    (("vor", "nachname"), "name"),  # "Vor- und Nachname"
    (("rue",), "street"),  # before "nom": "Nom de la rue" is the street
    (("voie",), "street"),
    (("nom",), "name"),  # "Nom", "Prénom Nom" (with the first name: see COMBINED_KEYS)
    (("company",), COMPANY),
    (("firma",), COMPANY),
    (("firmen",), COMPANY),
    (("unternehmen",), COMPANY),
    (("entreprise",), COMPANY),
    (("societe",), COMPANY),
    (("raison", "sociale"), COMPANY),
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
    (("rufnummer",), "phone"),
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
    (("verbrauch",), "annual_consumption_kwh"),
    (("=usage",), "annual_consumption_kwh"),
    (("zuzyc",), "annual_consumption_kwh"),
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
    (("beschreibung",), "message"),
    (("description",), "message"),
    (("opis",), "message"),
    (("message",), "message"),
    (("commentaire",), "message"),
    (("remarque",), "message"),
    (("wiadomo",), "message"),
    (("komentarz",), "message"),
    (("uwag",), "message"),
    (("comment",), "message"),
    (("gebaude",), "building_type"),
    (("objekt",), "building_type"),
    (("immobilie",), "building_type"),
    (("obiekt",), "building_type"),
    (("nieruchomo",), "building_type"),
    (("property",), "building_type"),
    (("bien",), "building_type"),
    (("maison",), "building_type"),
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
    (("interested",), "product"),
    (("zainteres",), "product"),
    (("interesuj",), "product"),
    (("kategori",), "product"),
    (("categor",), "product"),
    (("travaux",), "product"),
    (("projet",), "product"),
    (("projekt",), "product"),
    (("rodzaj", "instalac"), "product"),
    (("=state",), REGION),
    (("bundesland",), REGION),
    (("=region",), REGION),
    (("=province",), REGION),
    (("wojewodztw",), REGION),
    (("kanton",), REGION),
    (("=canton",), REGION),
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

# How a rule's word was found in a label: a whole word, the start of one, inside a compound.
MATCH_QUALITY = {"token": 1.0, "prefix": 0.9, "inside": 0.8}
# A vocabulary label of one word counts inside longer labels only from this many letters
# ("Telefon", "Adresse", "Projet"; not "Name", "Ort", "Tel").
MIN_PHRASE_WORD = 6
# A vocabulary phrase found with its words in another order counts this much of its score.
OTHER_ORDER = 0.95
# Two readings that explain different words of one label and together name one field.
COMBINED_KEYS: dict[frozenset[str], str] = {
    frozenset(("street", HOUSE_NUMBER)): "street",  # "Ulica i numer domu": street and number
    frozenset(("postcode", "city")): POSTCODE_CITY,  # "Code postal, commune"
    frozenset((FIRST_NAME, LAST_NAME)): "name",  # "Vorname Nachname"
    frozenset((FIRST_NAME, "name")): "name",  # "Prénom Nom"
}
# Words that explain nothing on their own (left out of the vocabulary's phrases and of the
# count of a label's words).
STOPWORDS = frozenset(
    """a an and are do does for how in is it of on or the to what which who you your yours
    am an auf bei das der des die dem den ein eine einer fur ihr ihre ihrem ihren im in ist mit
    pro sie und von was welche welcher wie zu zum zur
    a au aux d de des du en est et l la le les par pour quel quelle sa ses son un une vos votre
    czy do i jaki jaka jakie na o oraz pana pani w z ze""".split()
)

# Words of cost and savings tables, whose labels ("Mit PV-Anlage", "Ersparnis") only make sense
# with their column or section heading ("KOSTEN PRO MONAT").
SAVINGS_WORDS = ("ersparnis", "einsparung", "econom", "saving", "oszczedn")
COST_WORDS = ("kosten", "cout", "couts", "cost", "costs", "koszt", "rachun")
WITH_PV = re.compile(r"\b(mit|avec|with|z)\b.*\b(pv|photovolta\w*|fotowolta\w*|solar\w*|instal)")
WITHOUT_PV = re.compile(
    r"\b(ohne|sans|without|bez)\b.*\b(pv|photovolta\w*|fotowolta\w*|solar\w*|instal)"
)
PERIOD_20Y = re.compile(r"\b20\s*(jahre\w*|ans|years?|lat)\b")
PERIOD_MONTH = re.compile(r"\b(monat\w*|mensuel\w*|mois|month\w*|miesi\w*|mtl)\b")
PERIOD_YEAR = re.compile(r"\b(jahr\w*|annuel\w*|annee\w*|an|year\w*|annual\w*|rok\w*|roczn\w*)\b")
UNITS = re.compile(r"\b(in|en|w|kwh|mwh|m2|qm|ct|cent|eur|euro|euros|zl|pln|deg|grad|kg|stk)\b")
