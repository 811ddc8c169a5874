"""MAPIE's multi-label recall control (CRC) on given probabilities, for benchmarks/confidence.py.

Runs in MAPIE's own virtual environment (numpy + mapie only, never tagsmith):

    python confidence_mapie_runner.py INPUT.npz OUTPUT.npz

INPUT holds ``probs`` (n_docs x n_labels, float32: the same calibrated probabilities
tagsmith's sets use), ``y`` (n_docs x n_labels, bool), ``splits`` (n_splits x n_docs,
bool: True = calibration document of that split), ``alphas`` and ``grid`` (MAPIE's
thresholds lambda). OUTPUT holds, per split and alpha, the test documents' mean set
size and mean recall (``size``, ``recall``: n_splits x n_alphas), the chosen
thresholds and the seconds each split took.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(source: str, target: str) -> None:
    from mapie.risk_control import MultiLabelClassificationController

    data = np.load(source)
    probs, y, splits = data["probs"], data["y"].astype(int), data["splits"]
    alphas, grid = data["alphas"], data["grid"]
    sizes = np.zeros((len(splits), alphas.size))
    recalls = np.zeros_like(sizes)
    chosen = np.zeros_like(sizes)
    seconds = np.zeros(len(splits))
    rows = np.arange(len(probs))[:, None]

    def predict_proba(X):
        return probs[np.asarray(X)[:, 0]]

    for s, is_cal in enumerate(splits):
        started = time.perf_counter()
        controller = MultiLabelClassificationController(
            predict_function=predict_proba, risk="recall", method="crc",
            target_level=[1 - a for a in alphas], predict_params=grid)
        controller.calibrate(rows[is_cal], y[is_cal])
        sets = controller.predict(rows[~is_cal])  # n_test x n_labels x n_alphas
        truth = y[~is_cal].astype(bool)
        for a in range(alphas.size):
            members = sets[:, :, a]
            sizes[s, a] = members.sum(axis=1).mean()
            recalls[s, a] = ((members & truth).sum(axis=1) / truth.sum(axis=1)).mean()
        chosen[s] = controller.best_predict_param
        seconds[s] = time.perf_counter() - started
        print(f"mapie split {s + 1}/{len(splits)}: {seconds[s]:.1f}s", file=sys.stderr,
              flush=True)
    np.savez(target, size=sizes, recall=recalls, threshold=chosen, seconds=seconds)


if __name__ == "__main__":
    if len(sys.argv) != 3:  # --help or a missing argument: an IndexError traceback before
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
