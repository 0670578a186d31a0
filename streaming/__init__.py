"""isoguard: streaming layer."""
