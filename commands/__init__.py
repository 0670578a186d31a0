"""isoguard: commands over the library layers (labelled-set evaluation; the `isoguard` command)."""
