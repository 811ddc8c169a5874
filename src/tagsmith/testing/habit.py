"""A synthetic corpus whose labels are left off by habit, with its injected truth.

The audit's missing-label bound assumes labels go missing at random; an indexer's habit
(Reuters-21578's ``money-fx`` left off ``dlr`` stories) escapes it. :func:`habit_corpus`
injects such a habit, and a few wrong labels, into a small corpus whose true labels it
returns too: ``tests/test_audit_sample.py`` and ``benchmarks/audit_review_sample.py``
review samples of it as a reviewer who knows the truth.
"""

from __future__ import annotations

import numpy as np

from tagsmith.data.labelspace import LabelSpace

#: the corpus's labels: ``http://x/L0`` to ``http://x/L5``
N_LABELS = 6
SPACE = LabelSpace.from_uris([f"http://x/L{label}" for label in range(N_LABELS)])


def habit_corpus(n_docs: int = 400, seed: int = 0, share: float = 0.5, wrong: float = 0.03
                 ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Texts of words drawn per true label; label 0 always comes with label 1 (as
    ``dlr`` with ``money-fx``), and the given labels leave label 1 off ``share`` of
    label 0's documents (a habit: one label left off another's documents), and a
    random label is added wrongly to ``wrong`` of the documents. Returns the texts,
    the true and the given labels (boolean arrays, documents x :data:`SPACE`)."""
    rng = np.random.default_rng(seed)
    words = [[f"w{label}x{i}" for i in range(30)] for label in range(N_LABELS)]
    noise = [f"n{i}" for i in range(300)]
    truth = np.zeros((n_docs, N_LABELS), bool)
    texts = []
    for doc in range(n_docs):
        first = rng.integers(N_LABELS)
        truth[doc, first] = True
        if first == 0:
            truth[doc, 1] = True
        elif rng.random() < 0.3:
            truth[doc, rng.integers(2, N_LABELS)] = True
        tokens = list(rng.choice(noise, 8))
        for label in np.flatnonzero(truth[doc]):
            tokens += list(rng.choice(words[label], 5))
        rng.shuffle(tokens)
        texts.append(" ".join(tokens))
    given = truth.copy()
    zero = np.flatnonzero(truth[:, 0])
    given[rng.choice(zero, int(share * len(zero)), replace=False), 1] = False
    for doc in rng.choice(n_docs, int(wrong * n_docs), replace=False):
        given[doc, rng.choice(np.flatnonzero(~truth[doc]))] = True
    return texts, truth, given
