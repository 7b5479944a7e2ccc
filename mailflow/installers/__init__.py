"""Installers: accounts, service areas, import/export."""
