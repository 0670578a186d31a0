"""isoguard: features layer."""
