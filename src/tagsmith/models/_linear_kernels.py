"""Compiled kernel of the linear model: margins ``X @ W`` with sparse weights.

scipy multiplies a CSR batch of documents by the CSC weights (features x labels)
only after converting the whole weight matrix to CSR, once per call: on a 7,019-label
yso bundle (57 million weights) about a second and 460 MB per batch of documents,
most of a large suggest's time. The kernel reads the weights as stored, a label's
column at a time, and the documents by feature (the batch's CSC copy, small).

Each margin is summed as scipy sums it: its terms in the order of the shared
features in the document's row, from zero, in float32. With both matrices' indices
sorted that is the order of the label's column, so the margins are bit-identical
to scipy's (the caller checks the indices are sorted, and uses scipy where not).
"""

from __future__ import annotations

import numpy as np

from tagsmith._numba import njit

#: labels whose margins are summed at once before being written out by document rows
_LABEL_BLOCK = 64


@njit(nogil=True, cache=True)
def csc_margins(x_indptr, x_indices, x_data, w_indptr, w_indices, w_data, out):
    """``out[i, k] = sum_j X[i, j] * W[j, k]`` (``out``: documents x labels, C order,
    overwritten) from ``X``'s CSC arrays (documents by feature) and ``W``'s CSC
    arrays (features x labels), both with sorted indices."""
    n_docs, n_labels = out.shape
    block = min(_LABEL_BLOCK, max(1, n_labels))
    acc = np.zeros((block, n_docs), dtype=np.float32)
    for k0 in range(0, n_labels, block):
        k1 = min(n_labels, k0 + block)
        for k in range(k0, k1):
            row = acc[k - k0]
            for p in range(w_indptr[k], w_indptr[k + 1]):
                j = w_indices[p]
                w = w_data[p]
                for q in range(x_indptr[j], x_indptr[j + 1]):
                    row[x_indices[q]] += x_data[q] * w
        for i in range(n_docs):
            for k in range(k0, k1):
                # + 0 turns a -0.0 sum into the 0.0 that scipy's dropped entry reads as
                out[i, k] = acc[k - k0, i] + np.float32(0.0)
                acc[k - k0, i] = np.float32(0.0)
