"""isoguard: dashboard layer."""
