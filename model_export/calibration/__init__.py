"""Per-label thresholds: choosing them, the calibrate command, the before/after table, report, reference rates."""
