"""Type aliases for the array parameters of the public API, so type checkers and IDEs
see what a function takes instead of ``Any``."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

#: ``n_docs x n_labels`` labels: a scipy sparse matrix or array, or anything numpy
#: reads as a 2-D array (nested lists, a dense array); nonzero = a label.
LabelMatrix: TypeAlias = sp.spmatrix | sp.sparray | npt.ArrayLike

#: ``n_docs x n_features`` features: a scipy sparse matrix or array, or a dense array.
FeatureMatrix: TypeAlias = sp.spmatrix | sp.sparray | np.ndarray

if TYPE_CHECKING:  # the embedding featurizer's module is imported only where it is used
    from tagsmith.features.embedding import EmbeddingFeaturizer
    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.features.views import MultiViewFeaturizer

#: what turns texts into a model's features (:func:`tagsmith.features.views.make_featurizer`)
Featurizer: TypeAlias = "TfidfFeaturizer | EmbeddingFeaturizer | MultiViewFeaturizer"
