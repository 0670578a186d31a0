"""isoguard: models layer."""
