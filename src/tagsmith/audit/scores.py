"""Out-of-sample scores of a training corpus, as an audit needs them.

An audit must score each document with a model that did not learn from it. Three
sources, from cheapest to most expensive:

* ``knn``: leave-one-out nearest neighbours
  (:meth:`tagsmith.models.knn.KNNModel.leave_one_out_topk`): index every document
  once and let each be voted on by its neighbours other than itself. One prediction
  pass at any scale (yso-finna-en's 590k documents: about half a minute on two cores),
  and the neighbours it finds are reused for near-duplicate detection.
* ``crossfit``: K-fold cross-fitting (:func:`tagsmith.pipeline.crossfit.cross_fit_topk`)
  with any model family; costs about ``K - 1`` trainings plus scoring every document.
* ``bundle``: the cross-fitted scores a bundle stored at training time
  (``tagsmith train --crossfit-folds N``), when the bundle was trained on this very
  corpus (its data fingerprint says so).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from tagsmith._params import check_choice
from tagsmith._plural import plural_s
from tagsmith.topk import TopK

logger = logging.getLogger("tagsmith")

SOURCES = ("auto", "knn", "crossfit", "bundle")
#: neighbours that vote in the leave-one-out scores (the kNN model's default)
KNN_DEFAULTS = {"n_neighbors": 50}


@dataclass
class AuditScores:
    """Out-of-sample ``topk`` (``n_docs x k``) and where it came from."""

    topk: TopK
    source: str
    details: dict = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> dict:
        return {"source": self.source, "k": int(self.topk.k), "seconds": round(self.seconds, 2),
                **self.details}


def knn_scores(X, Y, *, k: int, params: dict | None = None,
               show_progress: bool = False) -> AuditScores:
    """Leave-one-out kNN scores of the rows of ``X`` (docs x features) with labels ``Y``.

    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]))
    >>> Y = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]]))
    >>> knn_scores(X, Y, k=1, params={"n_neighbors": 1}).topk.indices.ravel().tolist()
    [0, 0, 1, 1]
    """
    from tagsmith.models import make_model

    started = time.perf_counter()
    params = {**KNN_DEFAULTS, **(params or {})}
    model = make_model("knn", **params)
    if "show_progress" not in params:
        model.set_params(show_progress=show_progress)
    model.fit(X, Y)
    # the neighbours themselves are not kept: near duplicates are found exactly from
    # the features (tagsmith.audit.duplicates.near_pairs), which they fed before
    topk = model.leave_one_out_topk(X, k)
    seconds = time.perf_counter() - started
    logger.info("leave-one-out kNN scores of %d document%s in %.1f s", X.shape[0],
                plural_s(X.shape[0]), seconds)
    shown = {k: v for k, v in model.get_params().items() if k != "show_progress"}
    return AuditScores(topk, "knn", {"model": "knn", "params": shown}, seconds=seconds)


def crossfit_scores(X, Y, *, model: str, params: dict | None = None, n_folds: int = 5,
                    k: int | None = None, seed: int = 0, label_features=None,
                    show_progress: bool = False) -> AuditScores:
    """K-fold cross-fitted scores (see :func:`tagsmith.pipeline.crossfit.cross_fit_topk`)."""
    from tagsmith.models import get_model_class
    from tagsmith.pipeline.crossfit import cross_fit_topk

    params = dict(params or {})
    if "show_progress" in get_model_class(model)._param_names():
        params.setdefault("show_progress", show_progress)
    result = cross_fit_topk(X, Y, model, params, n_folds=n_folds, k=k, seed=seed,
                            label_features=label_features, show_progress=show_progress)
    return from_crossfit(result, "crossfit")


def from_crossfit(crossfit, source: str) -> AuditScores:
    """Wrap :class:`~tagsmith.pipeline.crossfit.CrossFitScores` (computed or stored)."""
    params = {k: v for k, v in crossfit.params.items() if k != "show_progress"}
    return AuditScores(crossfit.topk, source,
                       {"model": crossfit.model, "params": params,
                        "n_folds": crossfit.n_folds, "seed": crossfit.seed},
                       crossfit.seconds)


def check_source(source: str) -> str:
    return check_choice("scores", source, SOURCES)
