"""Signed action links ``$BASE_URL/l/<action>/<token>``."""
