"""isoguard: batch layer."""
