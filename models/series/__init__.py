"""Per-key time-series detection: shingled RRCF (rcf), running z-score and seasonal baseline (stats), and the per-key state-bytes -> scores detector the stream calls (detector)."""
