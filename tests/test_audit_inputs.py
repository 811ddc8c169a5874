"""Bad input to audit_corpus and AuditOptions: a clear tagsmith error naming the
parameter before any work, never a scipy/attribute/index error or a silent result."""

import re

import numpy as np
import pytest

from tagsmith.data.labelspace import Label, LabelSpace
from tagsmith.exceptions import InvalidParameterError
from tagsmith.pipeline.audit import AuditOptions, audit_corpus

SPACE = LabelSpace([Label("u:a", {"en": "cats"}), Label("u:b", {"en": "dogs"})])
TEXTS = ["cats purr", "dogs bark", "cats sleep", "dogs run"]
Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])


def _options():
    return AuditOptions(scores="knn", near_duplicates=False)


def _raises(name):
    return pytest.raises(InvalidParameterError, match="parameter " + re.escape(repr(name)[:-1]))


@pytest.mark.parametrize(("param", "kwargs"), [
    ("texts", {"texts": "ab", "Y": np.array([[1, 0], [0, 1]])}),  # one doc per character
    ("texts", {"texts": None}),                                     # TypeError
    ("Y", {"Y": np.ones((4, 2, 1))}),                               # scipy: no 3-D
    ("Y", {"Y": None}),                                             # scipy: dtype object
    ("Y", {"Y": Y.astype(str)}),                                    # scipy: dtype <U21
    ("Y", {"Y": np.where(Y == 0, np.nan, 1.0)}),                    # NaN audited as a label
    ("Y", {"Y": Y * 2}),                                            # 2 audited as a label
    ("Y", {"Y": 2 * Y - 1}),                                        # -1 audited as a label
    ("label_space", {"label_space": None}),                         # TypeError: no len()
    ("options", {"options": {"scores": "knn"}}),                    # AttributeError
    ("lines", {"lines": [1, 2]}),                                   # IndexError in review
    ("lines", {"lines": "1234"}),                                   # read per character
    ("doc_ids", {"doc_ids": ["a"]}),
    ("splits", {"splits": ["cats purr"]}),                          # AttributeError
    ("splits['test']", {"splits": {"test": "cats purr"}}),          # one doc per character
    ("splits['test'][0]", {"splits": {"test": [None]}}),            # AttributeError casefold
], ids=lambda value: value if isinstance(value, str) else None)
def test_audit_corpus_refuses_bad_input(param, kwargs):
    args = {"texts": TEXTS, "Y": Y, "label_space": SPACE, "options": _options()} | kwargs
    with _raises(param):
        audit_corpus(args.pop("texts"), args.pop("Y"), args.pop("label_space"), **args)


@pytest.mark.parametrize(("field", "value"), [
    ("evidence", "no"), ("near_duplicates", "no"), ("show_progress", "yes"),
    ("lang", None), ("lang", 5), ("model", "nope"), ("model", 5),
    ("model_params", None), ("model_params", [1]), ("knn_params", "x"),
    ("featurizer_params", [1])])
def test_audit_options_refuse_bad_fields(field, value):
    # each passed validate: "no" read as True, a bad model refused only after the features
    with _raises(field):
        AuditOptions(**{field: value}).validate()


def test_audit_options_valid_fields_pass():
    options = AuditOptions(model="linear", model_params={"loss": "logistic"},
                           featurizer_params=None, evidence=np.bool_(False), lang="fi")
    options.validate()
    assert options.evidence is False and options.model == "linear"
