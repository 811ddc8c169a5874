"""Calibrated confidence from sparse top-k scores.

* :mod:`tagsmith.calibration.bands`: labels grouped by training frequency.
* :mod:`tagsmith.calibration.scaling`: per-label isotonic / Platt calibrators shrunk
  toward their band, global temperature; tail probabilities for unlisted labels.
* :mod:`tagsmith.calibration.reliability`: ECE, Brier, per-band tables, diagrams.
* :mod:`tagsmith.calibration.thresholds`: F-beta thresholds with band/global back-off.
* :mod:`tagsmith.calibration.shift`: label-shift estimation (EM, BBSE) and adjustment.
"""
