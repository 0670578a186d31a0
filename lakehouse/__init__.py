"""isoguard: lakehouse layer."""
