"""Score-level ensemble of model families, fitted on the same features and labels.

Each member proposes its ``k_member`` best labels with scores; the ensemble score of
a label is the weighted sum of the members' scores, a label outside a member's
proposals counting 0 for that member. With weights summing to 1 and members scoring
in [0, 1], so does the ensemble. The combination is one sparse matrix over the union
of the proposals, so it costs ``O(n_docs * k_member * n_members)`` whatever the size of
the label space.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeGuard, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tagsmith._params import check_int, keyword_params
from tagsmith._plural import plural_s
from tagsmith._typing import FeatureMatrix, LabelMatrix
from tagsmith.exceptions import InvalidParameterError, NotFittedError
from tagsmith.models.base import (
    COLUMN_TOPK,
    NESTED_TOPK,
    SAMPLE_WEIGHT,
    SCORE_BATCHES,
    SOFT_TARGETS,
    BaseModel,
    check_features,
    check_groups,
    check_sample_weight,
    check_targets,
    check_weighted_targets,
    takes_groups,
)
from tagsmith.models.splits import has_repeats, split_order, unfit_groups
from tagsmith.topk import TopK, _check_finite, _check_k

if TYPE_CHECKING:
    from tagsmith.features.views import Views

logger = logging.getLogger("tagsmith")

#: members when none are given: (registered model name, parameters)
DEFAULT_MEMBERS: tuple[tuple[str, dict], ...] = (("tree", {}), ("knn", {}))
DEFAULT_K_MEMBER = 50
# ensemble settings handed to every member that has the parameter and does not set it
SHARED_PARAMS = ("n_jobs", "show_progress", "random_state")
# documents per round of member predictions: bounds the candidate arrays' memory
PREDICT_BATCH = 65_536
#: with ``weights="auto"``: held-out documents for tuning, at least and at most
MIN_TUNE_DOCS, MAX_TUNE_DOCS = 50, 20_000
#: share of the documents held out to tune ``weights="auto"`` unless given
DEFAULT_TUNE_FRACTION = 0.05


class EnsembleModel(BaseModel):
    """Weighted sum of member models' top-k scores.

    Parameters (keyword-only): ``members``, a list of ``[name, params]`` pairs naming
    registered model families (``None`` = ``[["tree", {}], ["knn", {}]]``), or
    ``[name, params, view]`` triples when the features are several
    :class:`~tagsmith.features.views.Views` (each member fits and scores on its own
    view); ``weights``, one positive number per member (``None`` = equal), normalised
    to sum to 1, or ``"auto"``: the members are first fitted without a seeded
    ``tune_fraction`` of the documents (default 0.05, at least 50 and at most 20,000;
    with other weights it has no effect, and fitting warns about one given), the
    weights (on a 0.1 grid)
    and, unless given, the powers (0.5 or 1 each) that give the best mean of P@1 and
    nDCG@5 on those documents are kept, and the members are fitted again on all
    documents (with sample weights, the held-out documents are drawn among those of
    weight above 0 and the two means are weighted, so a document of weight 0 is not
    there for the tuning either; with ``groups`` given to :meth:`fit`, equal texts are
    held out or kept together, whole groups, so a member that recalls a copy of the
    document, a kNN at similarity 1, is not the one the weights favour; up to 4
    members every combination is tried; with more, where the grid grows
    exponentially, a deterministic coordinate ascent from equal weights gives each
    member in turn its best grid weight and power, until a sweep changes nothing or
    after 10 sweeps, so a sweep costs time linear in the members: see
    :func:`~tagsmith.models._ensemble_tuning.tune_combination`);
    ``powers``, one
    exponent per member applied to its scores before
    weighting (``None`` = 1; below 1 spreads out scores that are products of path
    probabilities, such as a tree's, so they mix with a vote share); ``k_member``,
    how many labels each member proposes per document (``None`` = ``max(k, 50)``;
    never fewer than ``k``); ``n_jobs``, ``show_progress`` and ``random_state``,
    given to each member that has the parameter and does not set it itself
    (``None`` leaves the members' own defaults).

    Capabilities (sample weights, soft targets) are those all members share.

    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    >>> model = EnsembleModel(members=[["linear", {"C": 10.0}], ["knn", {"n_neighbors": 2}]],
    ...                       weights=[1, 3], n_jobs=1).fit(X, Y)
    >>> model.predict_topk(np.array([[0.9, 0.0]]), k=1).indices.tolist()
    [[0]]
    """

    name = "ensemble"
    #: ``weights="auto"`` draws a tuning split of its own: equal texts stay on one side
    fit_takes_groups = True
    #: where a nested ensemble stands in the one fitting it (``"members[1]."``), for the
    #: warnings it logs; its errors get the path as they pass through (_within_member)
    _path = ""

    def __init__(self, *, members: Sequence | None = None,
                 weights: Sequence[float] | str | None = None,
                 powers: Sequence[float] | None = None,
                 tune_fraction: float = DEFAULT_TUNE_FRACTION,
                 k_member: int | None = None, n_jobs: int | None = None,
                 show_progress: bool | None = None, random_state: int | None = None):
        self.members = members
        self.weights = weights
        self.powers = powers
        self.tune_fraction = tune_fraction
        self.k_member = k_member
        self.n_jobs = n_jobs
        self.show_progress = show_progress
        self.random_state = random_state

    # -- members and parameters --------------------------------------------------------------
    @classmethod
    def params_from_json(cls, params: dict) -> dict:
        """As :meth:`BaseModel.params_from_json`, and each member's parameters as its
        family reads them back (``members=[["linear", {"C": "Infinity"}]]`` gives
        ``C=inf``); a malformed member list is left for validation to refuse."""
        from tagsmith.models import available_models, get_model_class

        params = super().params_from_json(params)
        members = params.get("members")
        if isinstance(members, list) and all(
                isinstance(member, list) and len(member) in (2, 3)
                and member[0] in available_models() and isinstance(member[1], dict)
                for member in members):
            params["members"] = [[member[0],
                                  get_model_class(member[0]).params_from_json(member[1]),
                                  *member[2:]] for member in members]
        return params

    def _member_specs(self) -> list[tuple[str, dict]]:
        """``members`` checked: (name, params) pairs of registered families, known params."""
        from tagsmith.models import available_models, get_model_class

        members = DEFAULT_MEMBERS if self.members is None else self.members
        if isinstance(members, (str, bytes, dict)) or not isinstance(members, Sequence) \
                or len(members) == 0:
            raise InvalidParameterError("members", "a non-empty list of [name, params] pairs",
                                        members)
        specs = []
        for i, member in enumerate(members):
            if isinstance(member, str) or not isinstance(member, Sequence) \
                    or len(member) not in (2, 3):
                raise InvalidParameterError(f"members[{i}]",
                                            "a [name, params] pair or [name, params, view]",
                                            member)
            name, params = member[0], member[1]
            if len(member) == 3 and (not isinstance(member[2], str) or not member[2]):
                raise InvalidParameterError(f"members[{i}] view", "a view name", member[2])
            if not isinstance(name, str) or name not in available_models():
                raise InvalidParameterError(f"members[{i}]",
                                            f"a registered model name: one of "
                                            f"{sorted(available_models())}", name)
            if not isinstance(params, dict):
                raise InvalidParameterError(f"members[{i}] ({name}) params", "a dict", params)
            valid = keyword_params(get_model_class(name))
            for key in params:
                if key not in valid:
                    raise InvalidParameterError(key, f"one of {valid}", key,
                                                owner=f"members[{i}] ({name})")
            specs.append((name, dict(params)))
        return specs

    def _check_member_values(self, specs: list[tuple[str, dict]], stored: bool = False) -> None:
        """Each member's parameter values, as that member's ``fit`` would check them:
        a bad value in the last member fails before the first one trains.

        The values each member keeps (numpy numbers as plain ones) replace the given
        ones, in ``specs`` and in ``members``: ``get_params()`` goes into the bundle's
        JSON, which refuses numpy values. With ``stored`` (parameters read from a
        bundle), a negative integer ``random_state`` of a member, its own or the
        ensemble's, is kept as it is (see :func:`_old_seed`); every other value is
        checked as for fitting."""
        changed = False
        for i, (name, params) in enumerate(specs):
            member = self._make_member(name, params)
            validate = getattr(member, "_validate_params", None)
            if validate is None:
                continue
            seed = getattr(member, "random_state", None)
            old_seed = stored and _old_seed(seed)
            if old_seed:
                # a valid stand-in, so that the other values are checked
                member.random_state = 0  # type: ignore[attr-defined]
            try:
                validate()
            except InvalidParameterError as error:  # which member's value, as for unknown keys
                raise _within_member(error, i, name) from None
            for key, value in params.items():
                kept = value if old_seed and key == "random_state" else getattr(member, key)
                if kept is not value:
                    params[key], changed = kept, True
        if changed and self.members is not None:
            members = [type(member)([member[0], params, *member[2:]])
                       if isinstance(member, tuple) else [member[0], params, *member[2:]]
                       for member, (_, params) in zip(self.members, specs, strict=True)]
            self.members = tuple(members) if isinstance(self.members, tuple) else members

    def _member_views(self) -> list[str | None]:
        members: Sequence = DEFAULT_MEMBERS if self.members is None else self.members
        return [member[2] if len(member) == 3 else None for member in members]

    @staticmethod
    def _view_of(X, view: str | None, position: int):
        """The features member ``position`` sees: its named view of ``X``."""
        from tagsmith.features.views import Views

        if isinstance(X, Views):
            if view is None:
                if len(X) == 1:
                    return X[next(iter(X))]
                raise InvalidParameterError(f"members[{position}]",
                                            f"a view name (one of {sorted(X)}) as third entry",
                                            "no view")
            if view not in X:  # Views' own error named a 'view', not the member's
                raise InvalidParameterError(f"members[{position}] view",
                                            f"one of {sorted(X)}", view)
            return X[view]
        if view is not None:
            raise InvalidParameterError(f"members[{position}] view",
                                        "several feature views (a multi-view featurizer)",
                                        f"one feature matrix for view {view!r}")
        return X

    def _normalized_weights(self, n_members: int) -> np.ndarray:
        if self.weights is None or isinstance(self.weights, str) and self.weights == "auto":
            return np.full(n_members, 1.0 / n_members)
        try:
            weights = np.asarray(self.weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError("weights", "a list of numbers", self.weights) from None
        if weights.shape != (n_members,):
            raise InvalidParameterError("weights", f"{n_members} numbers (one per member)",
                                        self.weights)
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise InvalidParameterError("weights", "finite numbers > 0", self.weights)
        # scaled to at most 1 first: the sum of large finite weights (1e308 each)
        # overflowed to inf, and every weight, so every score, became 0
        weights = weights / weights.max()
        return weights / weights.sum()

    def _powers(self, n_members: int) -> np.ndarray:
        if self.powers is None:
            return np.ones(n_members)
        try:
            powers = np.asarray(self.powers, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError("powers", "a list of numbers", self.powers) from None
        if powers.shape != (n_members,) or not np.all(np.isfinite(powers)) \
                or np.any(powers <= 0):
            raise InvalidParameterError("powers", f"{n_members} numbers > 0 (one per member)",
                                        self.powers)
        return powers

    def _validate_params(self, stored: bool = False) -> list[tuple[str, dict]]:
        """Refuse bad values by name; numpy numbers pass and are stored back as plain
        ones (``get_params()`` goes into the bundle's JSON, which refuses numpy values).

        ``stored``: the parameters were read from a bundle (:meth:`from_state`), where a
        negative integer ``random_state`` written before seeds were checked is kept
        rather than refused (see :func:`_old_seed`); fitting checks it again."""
        specs = self._member_specs()
        self._normalized_weights(len(specs))
        self._powers(len(specs))
        k_member = check_int("k_member", self.k_member, 1, allow_none=True, numpy=True)
        self._check_n_jobs()
        if isinstance(self.weights, str) and self.weights != "auto":
            raise InvalidParameterError("weights", "a list of numbers, None or 'auto'",
                                        self.weights)
        if isinstance(self.tune_fraction, bool) or not isinstance(self.tune_fraction,
                                                                  numbers.Real) \
                or not 0 < self.tune_fraction < 1:
            raise InvalidParameterError("tune_fraction", "a number in (0, 1)",
                                        self.tune_fraction)
        if stored and _old_seed(self.random_state):
            random_state: int | None = int(self.random_state)
        else:
            random_state = check_int("random_state", self.random_state, 0, allow_none=True,
                                     numpy=True)
        # every field of the ensemble checked: store plain values back
        self.k_member = k_member
        self.tune_fraction, self.random_state = float(self.tune_fraction), random_state
        if self.weights is not None and not isinstance(self.weights, str):
            self.weights = _plain_numbers(self.weights)
        if self.powers is not None:
            self.powers = _plain_numbers(self.powers)
        self._check_member_values(specs, stored)
        return specs

    def _make_member(self, name: str, params: dict) -> BaseModel:
        from tagsmith.models import get_model_class

        model_class = get_model_class(name)
        accepted = keyword_params(model_class)
        for key in SHARED_PARAMS:
            value = getattr(self, key)
            if value is not None and key in accepted and key not in params:
                params = {**params, key: value}
        return model_class(**params)

    @property  # the members decide, so per instance rather than per class
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        """The capabilities every member has, but nested top-k: the members propose
        ``max(k, k_member)`` labels each, so a wider k can change the best ones; nor score
        batches or column top-k, methods the members have and the ensemble has not (an
        ensemble of linear members failed on ``suggest --only`` with a short list:
        ``'NoneType' object is not callable``)."""
        if self.is_fitted:
            sets = [member.capabilities for member in self.members_]
        else:  # an instance's: a nested ensemble's are its members' (a class property)
            sets = [self._make_member(name, params).capabilities
                    for name, params in self._member_specs()]
        return frozenset.intersection(*sets) - {NESTED_TOPK, SCORE_BATCHES, COLUMN_TOPK}

    def uses_label_features(self) -> bool:
        """Whether some member reads label-name features (a ``label_feature_weight``
        above 0 in its parameters)."""
        return any(self._make_member(name, params).uses_label_features()
                   for name, params in self._member_specs())

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: FeatureMatrix | Views, Y: LabelMatrix,
            sample_weight: npt.ArrayLike | None = None, *,
            label_features: FeatureMatrix | Views | None = None,
            groups: npt.ArrayLike | None = None,
            clustering_of: EnsembleModel | None = None,
            place: np.ndarray | None = None) -> EnsembleModel:
        """Fit every member on ``X`` (n_docs x n_features) and ``Y`` (n_docs x n_labels).

        ``sample_weight`` goes to the members that accept sample weights;
        ``label_features`` (n_labels x n_features, the featurized label names, or
        :class:`~tagsmith.features.views.Views` of them when ``X`` is) to the members
        that read them (see :meth:`uses_label_features`), each its own view.
        ``groups`` (one integer id per document, equal texts sharing one: e.g.
        :func:`tagsmith.pipeline.train.duplicate_groups`) keeps each group on one side
        of the ``weights="auto"`` tuning split: the members see features, not texts, and
        a document whose copy they were fitted on favoured the member that memorises.
        Without it, or with no id shared, the split is the same.

        ``clustering_of``, a fitted ensemble of the same members over the same labels,
        gives each tree member (and nested ensemble) its member's clustering, as
        :meth:`~tagsmith.models.tree.LabelTree.fit` takes a tree's, ``place`` (a mask
        over the labels) those it saw no document of (``train``'s refit on all
        documents reuses the held-out fit's; ``place`` without ``clustering_of`` is
        refused). A tree member whose clustering parameters or view differ from its
        counterpart's in ``clustering_of`` (a nested ensemble whose members do, or
        whose number of members does) clusters its labels again, with a warning naming
        the member (``members[1].members[0]`` in a nested one) and the parameters,
        unless a tree member of its view and clustering parameters has a matching
        counterpart: tree members alike share one clustering, and take that one.
        ``weights="auto"``'s final fit on all the documents reuses its tuning fit's
        clustering, the labels only the tuning documents carry placed alike.
        """
        from tagsmith.features.views import Views

        specs = self._validate_params()
        views = self._member_views()
        if not isinstance(X, Views):
            X = check_features(X)
        n_docs = X.n_docs if isinstance(X, Views) else X.shape[0]
        capabilities = self.capabilities
        Y = check_targets(Y, n_docs, soft_ok=SOFT_TARGETS in capabilities)
        weights = check_sample_weight(sample_weight, n_docs)
        check_weighted_targets(Y, weights)
        if groups is not None:
            groups = check_groups(groups, n_docs)
        reuse = None
        if place is not None and clustering_of is None:
            # it places labels into a reused clustering: without one it did nothing,
            # without a word
            raise InvalidParameterError("place", "given only with clustering_of (the labels "
                                        "to move into its members' clustering)",
                                        f"a mask of {np.size(place)} and no clustering_of")
        if clustering_of is not None:
            reuse = self._reused_members(clustering_of, specs, views, Y.shape[1])
            if place is not None and np.shape(place) != (Y.shape[1],):
                raise InvalidParameterError("place", f"a mask over the {Y.shape[1]} labels",
                                            np.shape(place))
        tuned = None
        if isinstance(self.weights, str):  # "auto": the only string validation lets by
            tuned, reuse, place = self._tune(X, Y, weights, specs, views, label_features,
                                             groups, reuse, place)
        elif self.tune_fraction != DEFAULT_TUNE_FRACTION:
            # a warning, not an error: bundles store every parameter, so one saved with
            # fixed weights and a tune_fraction must still load and refit (the audit's
            # cross-fitting) as it did
            logger.warning("ensemble tune_fraction %s has no effect: it only applies with "
                           "weights='auto' (weights are %s)", self.tune_fraction,
                           "equal" if self.weights is None else list(self.weights))
        members = self._fit_members(X, Y, weights, specs, views, label_features, groups,
                                    reuse, place)
        self._set_members(members, None if isinstance(X, Views) else X.shape[1], tuned)
        return self

    def _clustering_only(self) -> EnsembleModel:
        """An ensemble holding only what ``fit(..., clustering_of=)`` reads of this fitted
        one: its tree members' clustering
        (:meth:`~tagsmith.models.tree.LabelTree._clustering_only`), its nested ensembles'
        alike, its views and label count; no member's weights (any other member: None).
        ``weights="auto"`` keeps it, not its tuning fit, for the final fit."""
        from tagsmith.models.tree import LabelTree

        self._check_fitted()
        shell = EnsembleModel(**self.get_params())
        shell.members_ = cast(list, [member._clustering_only()
                                     if isinstance(member, LabelTree | EnsembleModel)
                                     else None for member in self.members_])
        shell.views_ = list(self.views_)
        shell.n_labels_ = self.n_labels_
        return shell

    def _reused_members(self, clustering_of, specs, views, n_labels: int) -> list:
        """``clustering_of``'s members, checked: a fitted ensemble of as many members,
        over ``n_labels`` labels. A tree member takes its counterpart's clustering where
        that is a tree clustered with the same parameters
        (:meth:`~tagsmith.models.tree.LabelTree._clustering_key`) on the same view, a
        nested ensemble its counterpart where that is an ensemble of as many members;
        any other one gets None (clustered again), with a warning naming it and what
        differs: a refit from Python with one member's ``leaf_size`` changed was
        refused whole, where only that member needs clustering again. Tree members of
        one view and clustering parameters share one clustering (:meth:`_fit_members`):
        where one of them has a matching counterpart, each takes it, none clustered
        again (one of them was warned "clustered again" and took its sibling's reused
        clustering, or took its sibling's new one, its own counterpart left unused)."""
        from tagsmith.models.tree import CLUSTERING_PARAMS, LabelTree

        previous = getattr(clustering_of, "members_", None)
        if not isinstance(clustering_of, EnsembleModel) or previous is None \
                or len(previous) != len(specs):
            raise InvalidParameterError("clustering_of", f"a fitted ensemble of {len(specs)} "
                                        f"member{plural_s(len(specs))}",
                                        f"an unfitted {type(clustering_of).__name__}"
                                        if isinstance(clustering_of, EnsembleModel)
                                        and previous is None
                                        else type(clustering_of).__name__ if previous is None
                                        else f"{len(previous)} members")
        reused = list(previous)
        # the members to cluster again (position, name, why, their shared-clustering key)
        differing: list[tuple[int, str, str, tuple | None]] = []
        matching: dict[tuple, int] = {}  # a shared-clustering key: its first matching member
        for position, ((name, params), view) in enumerate(zip(specs, views, strict=True)):
            member = self._make_member(name, params)
            old = previous[position]
            key = None
            if not isinstance(member, LabelTree | EnsembleModel):
                continue
            if getattr(old, "n_labels_", n_labels) != n_labels:
                raise InvalidParameterError("clustering_of", f"an ensemble over {n_labels} "
                                            f"label{plural_s(n_labels)}", old.n_labels_)
            old_view = clustering_of.views_[position]
            if isinstance(member, LabelTree):
                member._validate_params()
                key = (view, member._clustering_key())
                if not isinstance(old, LabelTree):
                    why = f"clustering_of's member is {_a_model(old)}, not a tree"
                elif old_view != view:
                    why = f"its view {view!r} differs from clustering_of's member's {old_view!r}"
                else:
                    differ = [f"{setting} {new!r} (clustering_of's member: {was!r})"
                              for setting, new, was in zip(CLUSTERING_PARAMS,
                                                           member._clustering_key(),
                                                           old._clustering_key(), strict=True)
                              if new != was]
                    why = "its " + ", ".join(differ) if differ else ""
            elif not isinstance(old, EnsembleModel):
                why = f"clustering_of's member is {_a_model(old)}, not an ensemble"
            elif old_view != view:
                why = f"its view {view!r} differs from clustering_of's member's {old_view!r}"
            else:
                count = len(member._member_specs())
                why = "" if len(old.members_) == count else (
                    f"its {count} member{plural_s(count)} where clustering_of's member has "
                    f"{len(old.members_)}")
            if why:
                differing.append((position, name, why, key))
            elif key is not None:
                matching.setdefault(key, position)
        for position, name, why, key in differing:
            if key in matching:
                logger.info("ensemble %smembers[%d] (%s): its labels' clustering taken from "
                            "clustering_of's members[%d], of its view and clustering settings "
                            "(not from its own counterpart: %s)", self._path, position, name,
                            matching[key], why)
                reused[position] = previous[matching[key]]
                continue
            logger.warning("ensemble %smembers[%d] (%s): its labels clustered again, not "
                           "taken from clustering_of: %s", self._path, position, name, why)
            reused[position] = None
        return reused

    def _fit_members(self, X, Y, weights, specs, views, label_features=None, groups=None,
                     reuse: list | None = None, place: np.ndarray | None = None
                     ) -> list[BaseModel]:
        from tagsmith.models.tree import LabelTree

        members = []
        # tree members whose clustering parameters agree, on the same view, cluster the
        # labels alike: the first one's clustering is taken by the others (the same
        # models; clustering is the longest single step of a tree's fit, 30-70 s at
        # 27,754 labels, and each member clustered again)
        clustered: dict[tuple, LabelTree] = {}
        for position, ((name, params), view) in enumerate(zip(specs, views, strict=True)):
            member = self._make_member(name, params)
            member_X = self._view_of(X, view, position)
            extra: dict = {}
            key = None
            if isinstance(member, LabelTree):
                member._validate_params()  # checked already; the values as fit keeps them
                key = (view, member._clustering_key())
                if key in clustered:  # placed already, where reuse had labels to place
                    extra["clustering_of"] = clustered[key]
                elif reuse is not None and reuse[position] is not None:
                    extra["clustering_of"], extra["place"] = reuse[position], place
            elif isinstance(member, EnsembleModel):
                member._path = f"{self._path}members[{position}]."
                if reuse is not None and reuse[position] is not None:
                    extra["clustering_of"], extra["place"] = reuse[position], place
            if label_features is not None and member.uses_label_features():
                extra["label_features"] = self._view_of(label_features, view, position)
            if groups is not None and takes_groups(member):  # a nested ensemble
                extra["groups"] = groups
            if weights is not None and SAMPLE_WEIGHT in member.capabilities:
                extra["sample_weight"] = weights
            elif weights is not None:
                logger.warning("ensemble member %r has no sample weights: fitted without",
                               name)
            try:
                member.fit(member_X, Y, **extra)
            except InvalidParameterError as error:
                if not isinstance(member, EnsembleModel):
                    raise
                # a nested ensemble's own error named its member, members[0], as if it
                # were this one's: the path from here (members[1].members[0])
                raise _within_member(error, position, name) from None
            members.append(member)
            if key is not None:
                clustered.setdefault(key, cast(LabelTree, member))
        return members

    def _tune(self, X, Y, weights, specs, views, label_features=None, groups=None,
              reuse: list | None = None, place: np.ndarray | None = None
              ) -> tuple[dict, list | None, np.ndarray | None]:
        """Weights and powers chosen on held-out documents (see ``weights="auto"``);
        with them, what the final fit on all documents reuses: the tuning members'
        clustering (their trees without their weights), and the labels to place, those
        the tuning fit saw no document of (of those ``place`` names, where the tuning
        fit reused ``reuse``'s clustering: the others were clustered from documents)."""
        from tagsmith.features.views import Views
        from tagsmith.models._ensemble_tuning import tune_combination
        from tagsmith.models.tree import LabelTree

        rest, hold = self._tuning_split(Y.shape[0], weights, groups)
        rows_of = X.take if isinstance(X, Views) else X.__getitem__
        members = self._fit_members(rows_of(rest), Y[rest],
                                    None if weights is None else weights[rest], specs, views,
                                    label_features, None if groups is None else groups[rest],
                                    reuse, place)
        held_X = rows_of(hold)
        k_member = DEFAULT_K_MEMBER if self.k_member is None else self.k_member
        topks = [member.predict_topk(self._view_of(held_X, view, position), k_member)
                 for position, (member, view) in enumerate(zip(members, views, strict=True))]
        # the final fit clusters no label again (each clustering is 30-70 s at 27,754
        # labels): the trees' shapes kept, their weights freed as before
        shapes = [member._clustering_only() if isinstance(member, LabelTree | EnsembleModel)
                  else None for member in members]
        del members
        # weighted, where train's place counts documents (it has no sample weights, so
        # the two agree there): a label whose documents all weigh 0 here was clustered
        # from an empty representation (the tree weighs Y as its classifiers do), so its
        # leaf says nothing of it and the final fit, where it may weigh more, places it
        rest_Y = Y[rest] if weights is None else sp.diags(weights[rest]) @ Y[rest]
        unseen = np.asarray(abs(rest_Y).sum(axis=0)).ravel() == 0
        if reuse is not None:  # the others kept reuse's place, clustered from documents
            unseen &= np.zeros(len(unseen), bool) if place is None else np.asarray(place, bool)
        result = tune_combination(topks, Y[hold],
                                  powers=None if self.powers is None else self._powers(len(specs)),
                                  sample_weight=None if weights is None else weights[hold])
        logger.info("ensemble weights %s, powers %s: P@1 %.4f, nDCG@5 %.4f on %s held-out "
                    "documents", result["weights"], result["powers"], result["p@1"],
                    result["ndcg@5"], f"{len(hold):,}")
        return result, shapes, unseen

    def _tuning_split(self, n_rows: int, weights: np.ndarray | None,
                      groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(rows the members are first fitted on, rows held out to tune on)``, each
        sorted: a seeded ``tune_fraction`` of the documents of weight above 0, whole
        ``groups`` at a time where some id is shared (see
        :func:`~tagsmith.models.splits.split_order`), else document by document."""
        # documents of weight 0 are not there: none is held out (nor counted), and the
        # others are drawn as if they were all there is; the members fit on the rest
        # with their weights (those taking sample weights leave weight 0 out)
        present = np.arange(n_rows) if weights is None else np.flatnonzero(weights > 0)
        n_docs = len(present)
        n_hold = int(min(MAX_TUNE_DOCS, max(MIN_TUNE_DOCS, round(self.tune_fraction * n_docs))))
        # the members must fit on at least as many documents as are held out: 100
        # documents hold out 50 (101 did too, yet both were refused as fewer than 100)
        if n_docs < 2 * MIN_TUNE_DOCS:
            raise InvalidParameterError("weights", "'auto' only with at least "
                                        f"{2 * MIN_TUNE_DOCS} training documents"
                                        + ("" if weights is None else " of weight above 0"),
                                        n_docs)
        if 2 * n_hold > n_docs:  # a tune_fraction above 0.5, not too few documents
            raise InvalidParameterError("tune_fraction", "a share holding out at most half of "
                                        f"the {n_docs} document{plural_s(n_docs)} ({n_hold} held "
                                        "out)",
                                        self.tune_fraction)
        # equal texts on one side: a held-out document whose copy a member was fitted
        # on (a kNN at similarity 1) made the tuned weights favour the member that
        # memorises. Without a shared id the split is the document-wise one, to the bit
        present_groups = None if groups is None else groups[present]
        if present_groups is not None and not has_repeats(present_groups):
            present_groups = None
        order = np.random.default_rng(self.random_state or 0).permutation(n_docs)
        _, held = split_order(order, n_hold, present_groups)
        if not held.size:  # every group of equal texts is too large for the share
            why = unfit_groups(present_groups, n_hold)
            raise InvalidParameterError("tune_fraction", "a share that some whole group of "
                                        f"equal texts fits ({why}; equal texts stay on one "
                                        "side of the tuning split)", self.tune_fraction)
        hold = present[held]  # sorted, as present is
        return np.setdiff1d(np.arange(n_rows), hold), hold

    def _set_members(self, members: list[BaseModel], n_features: int | None,
                     tuned: dict | None = None) -> None:
        self.members_ = members
        if tuned is not None:
            self.weights_ = np.asarray(tuned["weights"], dtype=np.float64)
            self.powers_ = np.asarray(tuned["powers"], dtype=np.float64)
            self.tuning_ = tuned
        else:
            self.weights_ = self._normalized_weights(len(members))
            self.powers_ = self._powers(len(members))
        self.views_ = self._member_views()
        self.n_features_ = n_features
        self.n_labels_ = members[0].n_labels_

    @classmethod
    def from_fitted(cls, models: Sequence[BaseModel], weights: Sequence[float] | None = None, *,
                    k_member: int | None = None, powers: Sequence[float] | None = None,
                    views: Sequence[str] | None = None) -> EnsembleModel:
        """An ensemble of models already fitted on the same label space.

        The models share one feature space, or, with ``views`` (one view name per
        model), each was fitted on its own view of :class:`~tagsmith.features.views.Views`.
        """
        models = list(models)
        if not models:
            raise InvalidParameterError("models", "at least one fitted model", "an empty list")
        for i, model in enumerate(models):
            if not isinstance(model, BaseModel) or not model.is_fitted:
                raise NotFittedError(f"models[{i}] ({type(model).__name__}) is not a fitted "
                                     f"tagsmith model")
        n_labels = {int(model.n_labels_) for model in models}
        if len(n_labels) > 1:
            raise InvalidParameterError("models", "models over one label space",
                                        f"label counts {sorted(n_labels)}")
        n_features = {int(model.n_features_) for model in models  # type: ignore[attr-defined]
                      if getattr(model, "n_features_", None) is not None}
        if len(n_features) > 1 and views is None:
            raise InvalidParameterError("models", "models over one feature space",
                                        f"feature counts {sorted(n_features)}")
        if views is not None and len(views) != len(models):
            raise InvalidParameterError("views", f"{len(models)} view names (one per model)",
                                        views)
        members = [[model.name, model.get_params()] if views is None
                   else [model.name, model.get_params(), views[i]]
                   for i, model in enumerate(models)]
        ensemble = cls(members=members, weights=None if weights is None else list(weights),
                       powers=None if powers is None else list(powers), k_member=k_member)
        ensemble._validate_params()
        ensemble._set_members(models, None if views is not None or not n_features
                              else n_features.pop())
        return ensemble

    # -- prediction --------------------------------------------------------------------------
    def predict_topk(self, X: FeatureMatrix | Views, k: int) -> TopK:
        """The ``k`` best labels per document by weighted member score, best first."""
        self._check_fitted()
        _check_k(k, None)
        from tagsmith.features.views import Views

        if isinstance(X, Views):
            n_docs, rows_of = X.n_docs, X.take
        else:
            X = check_features(X, n_features=self.n_features_)
            n_docs, rows_of = X.shape[0], X.__getitem__
        k = int(min(k, self.n_labels_))
        k_member = max(k, DEFAULT_K_MEMBER if self.k_member is None else self.k_member)
        parts = [self._predict_batch(rows_of(slice(start, start + PREDICT_BATCH)), k, k_member)
                 for start in range(0, n_docs, PREDICT_BATCH)]
        if not parts:
            return TopK.empty(0, k, self.n_labels_)
        return parts[0] if len(parts) == 1 else TopK.concatenate(parts)

    def _predict_batch(self, X: sp.csr_matrix, k: int, k_member: int) -> TopK:
        if len(self.members_) == 1:
            # its member's order, ties and labels without score included: the combined
            # matrix breaks ties by label id, which reordered the member's zero-score
            # tail (a kNN's labels without votes follow in frequency order)
            topk = self._member_topk(X, 0, k_member).head(k)
            valid = topk.valid
            scores = np.full(topk.scores.shape, -np.inf, np.float32)
            scores[valid] = self._weighted(topk.scores[valid], 0).astype(np.float32)
            _check_finite("member scores", scores[valid])
            return TopK._trusted(topk.indices, scores, self.n_labels_)
        return TopK.from_csr(self.combined_scores(X, k_member), k)

    def _member_topk(self, X, position: int, k_member: int) -> TopK:
        return self.members_[position].predict_topk(
            self._view_of(X, self.views_[position], position), k_member)

    def _weighted(self, scores: np.ndarray, position: int) -> np.ndarray:
        """A member's ``scores`` (of real entries) as they count in the ensemble: at least
        0, to its power, times its weight (float64)."""
        weight, power = self.weights_[position], self.powers_[position]
        scores = np.maximum(scores.astype(np.float64), 0.0)
        return weight * (scores if power == 1.0 else scores ** power)

    def combined_scores(self, X: FeatureMatrix | Views, k_member: int) -> sp.csr_matrix:
        """Weighted member scores on the union of their top ``k_member`` labels.

        A sparse ``n_docs x n_labels`` matrix; a label proposed by any member is an
        entry (possibly 0), a label proposed by none is missing.
        """
        rows, cols, values = [], [], []
        for position in range(len(self.members_)):
            topk = self._member_topk(X, position, k_member)
            valid = topk.valid
            rows.append(np.nonzero(valid)[0])
            cols.append(topk.indices[valid])
            values.append(self._weighted(topk.scores[valid], position))
        n_docs = len(topk)
        # duplicates (a label proposed by several members) are summed on conversion
        combined = sp.coo_matrix((np.concatenate(values), (np.concatenate(rows),
                                                           np.concatenate(cols))),
                                 shape=(n_docs, self.n_labels_)).tocsr()
        return sp.csr_matrix(combined, dtype=np.float32)

    # -- state -------------------------------------------------------------------------------
    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        self._check_fitted()
        member_metas = []
        arrays: dict[str, np.ndarray] = {}
        for i, member in enumerate(self.members_):
            member_meta, member_arrays = member.to_state()
            member_metas.append({"model": member.name, "state": member_meta})
            arrays.update({f"m{i}.{key}": value for key, value in member_arrays.items()})
        meta = {"params": self.get_params(), "members": member_metas,
                "weights": self.weights_.tolist(), "powers": self.powers_.tolist(),
                "tuning": getattr(self, "tuning_", None),
                "n_features": self.n_features_, "n_labels": int(self.n_labels_)}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict, arrays: dict[str, np.ndarray]) -> EnsembleModel:
        from tagsmith.models import get_model_class

        model = cls(**cls.params_from_json(meta["params"]))
        members = []
        for i, entry in enumerate(meta["members"]):
            prefix = f"m{i}."
            member_arrays = {key[len(prefix):]: value for key, value in arrays.items()
                             if key.startswith(prefix)}
            members.append(get_model_class(entry["model"]).from_state(entry["state"],
                                                                      member_arrays))
        if not members:
            raise ValueError("ensemble state has no members")
        # prediction zips the members with the parameters' member list (views, weights,
        # powers) and adds their label ids into one matrix: a state that disagrees with
        # itself is refused here rather than crashing (or mixing label spaces) later
        specs = model._validate_params(stored=True)
        if len(specs) != len(members):
            raise ValueError(f"ensemble state has {len(members)} "
                             f"member{plural_s(len(members))}, its parameters list "
                             f"{len(specs)}")
        n_labels, n_features = int(meta["n_labels"]), meta["n_features"]
        for i, member in enumerate(members):
            if int(member.n_labels_) != n_labels:
                raise ValueError(f"member {i} has {member.n_labels_} "
                                 f"label{plural_s(member.n_labels_)}, "
                                 f"expected {n_labels}")
            if n_features is not None and getattr(member, "n_features_", None) != n_features:
                raise ValueError(f"member {i} has {getattr(member, 'n_features_', None)} "
                                 f"feature{plural_s(getattr(member, 'n_features_', 0))}, "
                                 f"expected {n_features}")
        tuned = None
        if model.weights == "auto":
            tuned = meta.get("tuning") or {"weights": meta["weights"], "powers": meta["powers"]}
            for key in ("weights", "powers"):
                values = np.asarray(tuned[key], dtype=np.float64)
                if values.shape != (len(members),) or not np.all(np.isfinite(values)) \
                        or np.any(values <= 0):
                    raise ValueError(f"tuned {key} {tuned[key]!r} are not {len(members)} "
                                     f"finite number{plural_s(len(members))} > 0")
        model._set_members(members, n_features, tuned)
        return model


def _old_seed(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a negative integer seed, which a bundle written before
    ``random_state`` was checked (an integer >= 0) may hold.

    With fixed weights and no tree member such an ensemble fitted: the ensemble itself
    draws from its seed only to tune ``weights="auto"``, and its linear members took
    the seed as given. Prediction never uses a seed, so loading keeps the stored value
    as it is (``get_params()`` and a saved copy show it unchanged) and the members
    predict exactly as they did; fitting such a model again refuses the seed by name."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value < 0


def _plain_numbers(values) -> list:
    """Checked weights or powers as a list of plain numbers (ints kept ints)."""
    return [int(value) if isinstance(value, numbers.Integral) else float(value)
            for value in np.asarray(values).ravel().tolist()]


def _within_member(error: InvalidParameterError, position: int,
                   name: str) -> InvalidParameterError:
    """``error``, raised by member ``position`` (a model ``name``), as this ensemble
    reports it: a nested ensemble's member or its ``members`` named by the path from
    here (``members[1].members[0] (tree)``, ``members[1].members[0] view``), any other
    parameter owned by the member (``members[1] (ensemble)``)."""
    here = f"members[{position}]"
    if error.owner is not None and error.owner.startswith("members["):
        path, owner = error.name, f"{here}.{error.owner}"
    elif error.owner is None and (error.name == "members" or error.name.startswith("members[")):
        path, owner = f"{here}.{error.name}", None
    elif error.owner is None:
        path, owner = error.name, f"{here} ({name})"
    else:
        path, owner = error.name, f"{here} ({name}): {error.owner}"
    return InvalidParameterError(path, error.expected, error.got, owner=owner)


def _a_model(model: object) -> str:
    """``model`` as a warning names it: ``a LabelTree``, ``none`` (a shell's non-tree)."""
    return "none" if model is None else f"a {type(model).__name__}"
