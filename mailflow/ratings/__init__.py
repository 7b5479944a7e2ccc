"""Customer ratings and installer tiers (PRODUCT.md §6)."""
