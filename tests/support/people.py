"""The installers of the corpus the tests talk about, and the admin password."""

GOLD_PARIS = "contact@soleil-paris.example"
SILVER_PARIS = "devis@ile-de-france-pv.example"
PASSWORD = "correct horse battery staple"
