"""tagsmith.calibration."""
