"""The shared numeric parameter checks, seen through the parameters that use them: the
messages stay those of the hand-written checks they replaced, and bools, NaN and
non-numbers are turned away with InvalidParameterError everywhere."""

import math

import numpy as np
import pytest

from tagsmith._params import check_options
from tagsmith.calibration.thresholds import tune_thresholds
from tagsmith.exceptions import InvalidParameterError
from tagsmith.labeling.client import OpenAIChatClient
from tagsmith.labeling.labeler import LabelingOptions
from tagsmith.labeling.reliability import estimate_reliability
from tagsmith.labeling.selection import select_batch
from tagsmith.models.linear import LinearOVR
from tagsmith.models.tree import LabelTree
from tagsmith.pipeline.confidence import ConfidenceOptions
from tagsmith.pipeline.distill import ActiveOptions
from tagsmith.topk import TopK

URL = "http://127.0.0.1:9/v1"
TOPK = TopK(np.array([[0, 1]]), np.array([[0.9, 0.2]]), 2)


def _message(call) -> str:
    with pytest.raises(InvalidParameterError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("call, message", [
    (lambda: OpenAIChatClient(URL, "m", timeout=0),
     "parameter 'timeout' must be a number of seconds > 0, got 0"),
    (lambda: OpenAIChatClient(URL, "m", backoff_max=-1),
     "parameter 'backoff_max' must be a number of seconds in [0, 86400], got -1"),
    (lambda: OpenAIChatClient(URL, "m", max_retries=-1),
     "parameter 'max_retries' must be an integer >= 0, got -1"),
    (lambda: LabelingOptions(votes=0).validate(),
     "parameter 'votes' must be an integer >= 1, got 0"),
    (lambda: ConfidenceOptions(max_set_size=0).validate(),
     "parameter 'max_set_size' must be None or an integer >= 1, got 0"),
    (lambda: LabelTree(C=0)._validate_params(), "parameter 'C' must be a number > 0.0, got 0"),
    (lambda: LinearOVR(C=0)._validate_params(), "parameter 'C' must be a number > 0, got 0"),
    (lambda: TOPK.head(0), "parameter 'k' must be an integer >= 1, got 0"),
])
def test_messages_are_those_of_the_checks_they_replaced(call, message):
    assert _message(call) == message


@pytest.mark.parametrize("call, message", [
    (lambda: ConfidenceOptions(shrinkage=math.inf).validate(),
     "parameter 'shrinkage' must be a finite number >= 0, got inf"),
    (lambda: estimate_reliability(np.eye(2), np.eye(2), prior_strength=math.inf),
     "parameter 'prior_strength' must be a finite number >= 0, got inf"),
])
def test_infinity_is_refused_for_not_being_finite(call, message):
    """"must be a number >= 0, got inf" named no rule that inf breaks."""
    assert _message(call) == message


@pytest.mark.parametrize("call", [
    lambda: OpenAIChatClient(URL, "m", timeout=math.nan),    # NaN passed `timeout <= 0`
    lambda: OpenAIChatClient(URL, "m", backoff_base=math.nan),
    lambda: LabelTree(tol=math.nan)._validate_params(),
    lambda: LinearOVR(C=True)._validate_params(),             # bool passed as 1
    lambda: ConfidenceOptions(shrinkage=math.nan).validate(),
    lambda: ConfidenceOptions(max_set_size=2.5).validate(),   # was int()-truncated later
    lambda: estimate_reliability(np.eye(2), np.eye(2), prior_strength=math.nan),
    lambda: select_batch("robust", np.array([0.5, 0.4]), 1, n_mistakes=True,
                         rng=np.random.default_rng(0)),
    lambda: tune_thresholds(np.eye(1, 2), TOPK, beta="1"),     # was a TypeError
])
def test_bools_nan_and_non_numbers_are_invalid_parameters(call):
    _message(call)


def test_numpy_scalars_pass_where_they_passed_before():
    assert TOPK.head(np.int64(1)).k == 1
    ConfidenceOptions(shrinkage=np.float32(2), beta=np.float64(1), max_set_size=np.int64(3)
                      ).validate()
    LabelTree(C=np.float64(1.0))._validate_params()  # np.float64 is a float
    # the client refused numpy integers (Python ints only): they now pass, kept as ints
    client = OpenAIChatClient(URL, "m", max_retries=np.int64(3))
    assert client.max_retries == 3 and type(client.max_retries) is int
    with pytest.raises(InvalidParameterError, match="max_retries"):
        OpenAIChatClient(URL, "m", max_retries=np.float64(3))  # floats stay refused


# -- choices ---------------------------------------------------------------------------------
def _choice_calls():
    """(parameter, call with a bad value) for every option checked against a list of
    names. ``value in ("a", "b")`` compared a numpy array with each name, whose truth
    value numpy refused ("ambiguous"), and a list in a dict of names was a TypeError
    (unhashable): neither named the parameter."""
    import scipy.sparse as sp

    from tagsmith.audit.detect import check_label_issue_options
    from tagsmith.audit.scores import check_source
    from tagsmith.audit.simulate import inject_label_noise
    from tagsmith.calibration.scaling import fit_calibrator
    from tagsmith.calibration.shift import estimate_label_shift
    from tagsmith.data.corpus import Corpus
    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.data.vocab import load_vocabulary
    from tagsmith.features.views import featurizer_from_state, make_featurizer
    from tagsmith.models import make_model
    from tagsmith.pipeline.audit import AuditOptions, AuditResult, read_audit_corpus
    from tagsmith.pipeline.confidence import ConformalModel, estimate_shift
    from tagsmith.pipeline.train import TrainOptions
    from tagsmith.zeroshot.index import build_index
    from tagsmith.zeroshot.scorer import ZeroShotClassifier

    Y = sp.csr_matrix(np.eye(2))
    space = LabelSpace.from_uris(["u:a", "u:b"])
    rng = np.random.default_rng(0)
    def active(**bad):
        return ActiveOptions(**bad).validate(5000)

    def corpus(**bad):
        return Corpus("nowhere.tsv", space, **bad)

    return {
        "strategy": ("strategy", lambda bad: active(strategy=bad)),
        "mistakes_scope": ("mistakes_scope", lambda bad: active(mistakes_scope=bad)),
        "gain": ("gain", lambda bad: active(gain=bad)),
        "select strategy": ("strategy",
                            lambda bad: select_batch(bad, np.array([0.5]), 1, rng=rng)),
        "method": ("method", lambda bad: ConfidenceOptions(method=bad).validate()),
        "calibrator_source": ("calibrator_source",
                              lambda bad: ConfidenceOptions(calibrator_source=bad).validate()),
        "sets method": ("method", lambda bad: ConformalModel(
            object(), None, None, 0.1).check_options(None, None, 0.0, method=bad)),
        "shift method": ("method", lambda bad: estimate_shift(None, ["a text"], method=bad)),
        "estimate_label_shift method": ("method", lambda bad: estimate_label_shift(
            TOPK, source_prior=[0.5, 0.5], method=bad)),
        "fit_calibrator method": ("method",
                                  lambda bad: fit_calibrator(Y[:1], TOPK, method=bad)),
        "model": ("model", lambda bad: TrainOptions(model=bad).validate()),
        "make_model": ("model", make_model),
        "featurizer": ("featurizer", lambda bad: TrainOptions(featurizer=bad).validate()),
        "make_featurizer": ("featurizer", make_featurizer),
        "featurizer state": ("featurizer",
                             lambda bad: featurizer_from_state({"kind": bad}, {})),
        "loss": ("loss", lambda bad: LinearOVR(loss=bad)._validate_params()),
        "tree loss": ("loss", lambda bad: LabelTree(loss=bad)._validate_params()),
        "negative_levels": ("negative_levels",
                            lambda bad: LabelTree(negative_levels=bad)._validate_params()),
        "score": ("score", lambda bad: LabelTree(score=bad)._validate_params()),
        "scores": ("scores", lambda bad: AuditOptions(scores=bad).validate()),
        "check_source": ("scores", check_source),
        "rates": ("rates", lambda bad: AuditOptions(rates=bad).validate()),
        "rates of find_label_issues": ("rates",
                                       lambda bad: check_label_issue_options(20.0, 0.5, 1, bad)),
        "review_format": ("review_format", lambda bad: AuditResult(
            None, {}, [], None, space).write("nowhere", review_format=bad)),
        "audit on_error": ("on_error",
                           lambda bad: read_audit_corpus("nowhere.tsv", space, on_error=bad)),
        "wrong_labels": ("wrong_labels", lambda bad: inject_label_noise(Y, wrong_labels=bad)),
        "vocabulary format": ("format", lambda bad: load_vocabulary("nowhere.tsv", format=bad)),
        "vocabulary on_error": ("on_error",
                                lambda bad: load_vocabulary("nowhere.tsv", on_error=bad)),
        "corpus format": ("format", lambda bad: corpus(format=bad)),
        "corpus on_error": ("on_error", lambda bad: corpus(on_error=bad)),
        "unknown_labels": ("unknown_labels", lambda bad: corpus(unknown_labels=bad)),
        "index": ("index", lambda bad: build_index(np.eye(2, dtype=np.float32), bad)),
        "zero-shot index": ("index", lambda bad: ZeroShotClassifier(space, None, index=bad)),
    }


CHOICE_CALLS = _choice_calls()


BAD_CHOICES = {"array": np.array(["a", "b"]), "list": ["a"], "one-item array": np.array(["a"]),
               "None": None, "int": 1}
#: None is a choice of these: the format found from the file name
NONE_ALLOWED = {"corpus format", "vocabulary format"}


@pytest.mark.parametrize("where, bad", [
    pytest.param(where, bad, id=f"{where}-{kind}") for where in sorted(CHOICE_CALLS)
    for kind, bad in BAD_CHOICES.items() if not (bad is None and where in NONE_ALLOWED)])
def test_choices_refuse_any_non_string_naming_the_parameter(where, bad):
    name, call = CHOICE_CALLS[where]
    message = _message(lambda: call(bad))
    assert message.startswith(f"parameter '{name}' must be "), message
    assert message.endswith(", got " + repr(bad)), message


def test_choice_messages_list_the_choices():
    assert _message(lambda: ActiveOptions(mistakes_scope=np.array(["pool", "batch"])
                                          ).validate(5000)).startswith(
        "parameter 'mistakes_scope' must be 'pool' or 'batch', got array(")
    assert _message(lambda: ActiveOptions(gain=["margin"]).validate(5000)) == (
        "parameter 'gain' must be one of 'margin', 'normalised', 'binary', got ['margin']")
    assert _message(lambda: LinearOVR(loss="hinge")._validate_params()) == (
        "parameter 'loss' must be 'logistic' or 'squared_hinge', got 'hinge'")


def test_a_numpy_string_choice_is_kept_as_a_plain_str():
    options = ActiveOptions(strategy=np.str_("random"), gain=np.str_("binary"))
    options.validate(5000)
    assert type(options.strategy) is str and type(options.gain) is str
    LinearOVR(loss=np.str_("logistic"))._validate_params()


# -- flags -----------------------------------------------------------------------------------
def test_numpy_bools_pass_as_flags_and_are_kept_as_plain_bools():
    """LabelingOptions and TaxonomyOptions took any flag before check_bool: a numpy bool
    (a setting read from an array, a comparison's result) worked, and check_bool turned
    it away as "must be true or false". It is a bool: it passes, stored as a plain one
    (the options go into JSON summaries), for the featurizers' flags too."""
    from tagsmith.features.embedding import EmbeddingFeaturizer
    from tagsmith.features.tfidf import TfidfFeaturizer
    from tagsmith.labeling.taxonomy import TaxonomyOptions

    labeling = LabelingOptions(with_descriptions=np.bool_(False), with_broader=np.bool_(True),
                               add_ancestors=np.bool_(True), show_progress=np.bool_(False))
    labeling.validate()
    taxonomy = TaxonomyOptions(summarise=np.bool_(False), review=np.bool_(True),
                               show_progress=np.bool_(False))
    taxonomy.validate()
    tfidf = TfidfFeaturizer(lowercase=np.bool_(False), sublinear_tf=np.bool_(True))
    tfidf.validate()
    embedding = EmbeddingFeaturizer(show_progress=np.bool_(True))
    embedding.validate()
    flags = [(labeling, "with_descriptions", False), (labeling, "with_broader", True),
             (labeling, "add_ancestors", True), (labeling, "show_progress", False),
             (taxonomy, "summarise", False), (taxonomy, "review", True),
             (taxonomy, "show_progress", False), (tfidf, "lowercase", False),
             (tfidf, "sublinear_tf", True), (embedding, "show_progress", True)]
    for options, name, expected in flags:
        value = getattr(options, name)
        assert type(value) is bool and value is expected, name
    # numbers and strings stay refused, numpy's included
    for bad in (1, 0.0, np.int64(1), "yes", None):
        assert _message(lambda bad=bad: LabelingOptions(add_ancestors=bad).validate()) == (
            f"parameter 'add_ancestors' must be true or false, got {bad!r}")


def test_shares_in_0_1_are_checked_by_one_helper_with_one_message():
    # four hand-written "[0, 1)" checks (train's two fractions, active distillation's
    # teacher_error_rate, label-noise rates) now share tagsmith._params.check_fraction
    import scipy.sparse as sp

    from tagsmith._params import check_fraction
    from tagsmith.audit.simulate import inject_label_noise
    from tagsmith.pipeline.train import TrainOptions

    assert check_fraction("x", np.float32(0.5), numpy=True) == 0.5
    Y = sp.csr_matrix(np.eye(3))
    for bad in (1, 1.0, -0.1, math.nan, True, "0.1"):
        expected = f"must be a number in [0, 1), got {bad!r}"
        for name, refuse in [
            ("dev_fraction", lambda v: TrainOptions(dev_fraction=v).validate()),
            ("calibration_fraction",
             lambda v: TrainOptions(calibration_fraction=v).validate()),
            ("teacher_error_rate",
             lambda v: ActiveOptions(budget=5, teacher_error_rate=v).validate(10)),
            ("missing_rate", lambda v: inject_label_noise(Y, missing_rate=v)),
            ("wrong_rate", lambda v: inject_label_noise(Y, wrong_rate=v)),
            ("x", lambda v: check_fraction("x", v, numpy=True)),
        ]:
            with pytest.raises(InvalidParameterError) as info:
                refuse(bad)
            assert str(info.value) == f"parameter {name!r} {expected}"
    options = TrainOptions(dev_fraction=np.float32(0.25))
    options.validate()
    assert type(options.dev_fraction) is float and options.dev_fraction == 0.25


def test_options_that_are_not_the_options_class_are_refused_naming_options():
    """A dict of settings failed with "'dict' object has no attribute 'validate'" (and
    an empty one was silently taken for the defaults)."""
    import numpy as np

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.labeling.labeler import label_documents
    from tagsmith.labeling.taxonomy import generate_taxonomy
    from tagsmith.pipeline.audit import audit_corpus
    from tagsmith.pipeline.confidence import fit_confidence
    from tagsmith.pipeline.distill import active_distill, distill_classifier
    from tagsmith.pipeline.train import train_classifier

    space = LabelSpace.from_uris(["u:a", "u:b"])
    texts, Y = ["good day", "bad day"], np.array([[1, 0], [0, 1]])
    calls = {
        "TrainOptions": lambda o: train_classifier(texts, Y, space, options=o),
        "ConfidenceOptions": lambda o: fit_confidence(None, options=o),
        "AuditOptions": lambda o: audit_corpus(texts, Y, space, options=o),
        "LabelingOptions": lambda o: label_documents(texts, space, None, options=o),
        "TaxonomyOptions": lambda o: generate_taxonomy(texts, None, options=o),
        "ActiveOptions": lambda o: active_distill(texts, space, None, options=o),
    }
    for cls, call in calls.items():
        article = "an" if cls[0] in "AEIOU" else "a"
        for value in ({}, {"model": "linear"}):
            with pytest.raises(InvalidParameterError,
                               match=rf"parameter 'options' must be {article} {cls} .* got 'dict'"):
                call(value)
    with pytest.raises(InvalidParameterError, match="must be a TrainOptions"):
        distill_classifier(texts, Y, space, options={})


def test_train_classifier_refuses_a_label_space_that_is_not_a_labelspace():
    """A list of URIs or a dict was taken by its length: 'Y must be shape (2, 1)'."""
    from tagsmith.pipeline.train import train_classifier

    for space in (["u:a", "u:b"], {"u:a": 0, "u:b": 1}):
        with pytest.raises(InvalidParameterError, match=r"parameter 'label_space' must be a "
                                                        r"LabelSpace .*, got '(list|dict)'"):
            train_classifier(["good day", "bad day"], np.array([[1, 0], [0, 1]]), space)


def test_options_refused_show_an_options_object_the_user_can_write():
    """options={"seed": 1} to train_classifier was refused saying to write
    'TrainOptions(k=...)', a field TrainOptions has not (TypeError when copied); a dict
    is now shown made into the class, anything else with the class's first field."""
    import dataclasses
    import re

    import scipy.sparse as sp

    from tagsmith.data.labelspace import LabelSpace
    from tagsmith.pipeline.audit import AuditOptions
    from tagsmith.pipeline.train import TrainOptions, train_classifier

    space = LabelSpace.from_uris(["u:a", "u:b"])
    with pytest.raises(InvalidParameterError, match=re.escape(
            "must be a TrainOptions (TrainOptions(**options) of the dict's settings)")):
        train_classifier(["a", "b"], sp.csr_matrix(np.eye(2)), space, options={"seed": 1})
    settings = {"seed": 1}
    assert TrainOptions(**settings).seed == 1  # the call the message shows
    for cls in (TrainOptions, ConfidenceOptions, AuditOptions):
        with pytest.raises(InvalidParameterError) as caught:
            check_options("options", [], cls)
        field = re.search(rf"\({cls.__name__}\((\w+)=\.\.\.\)\)", str(caught.value)).group(1)
        assert field in {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("make, name", [
    (lambda: ConfidenceOptions(alpha=math.nan), "alpha"),
    (lambda: ConfidenceOptions(n_bands=-1), "n_bands"),
    (lambda: ActiveOptions(budget=math.nan), "budget"),
    (lambda: ActiveOptions(rounds=0), "rounds"),
    (lambda: ActiveOptions(teacher_error_rate=math.nan), "teacher_error_rate"),
    (lambda: LabelingOptions(votes="3"), "votes"),
    (lambda: LabelingOptions(temperature=-0.5), "temperature"),
])
def test_options_refuse_a_bad_field_where_they_are_made(make, name):
    # a notebook cell making ConfidenceOptions(alpha=nan) passed, and the refusal came
    # cells (or a long calibration) later, where the options were used
    with pytest.raises(InvalidParameterError) as info:
        make()
    assert info.value.name == name


def test_more_options_refuse_a_bad_field_where_they_are_made():
    from tagsmith.labeling.taxonomy import TaxonomyOptions
    from tagsmith.pipeline.audit import AuditOptions
    from tagsmith.pipeline.train import TrainOptions

    for make, name in ((lambda: TrainOptions(seed=math.nan), "seed"),
                       (lambda: TrainOptions(dev_fraction=-0.1), "dev_fraction"),
                       (lambda: AuditOptions(min_probability=-1), "min_probability"),
                       (lambda: AuditOptions(near_duplicate_threshold=math.nan),
                        "near_duplicate_threshold"),
                       (lambda: TaxonomyOptions(use_case="tickets", seed=-1), "seed")):
        with pytest.raises(InvalidParameterError) as info:
            make()
        assert info.value.name == name


def test_options_made_keep_the_values_given():
    # the check at construction runs on a copy: numpy numbers stay as given, None
    # defaults stay None (validate resolves them where the options are used), and an
    # audit's n_folds left out is still not given
    from tagsmith.pipeline.audit import AuditOptions
    from tagsmith.pipeline.train import TrainOptions

    confidence = ConfidenceOptions(alpha=np.float32(0.2), max_labels=np.int64(3))
    assert type(confidence.alpha) is np.float32 and type(confidence.max_labels) is np.int64
    train = TrainOptions(seed=np.int64(2), calibration_fraction=0.2, confidence=confidence)
    assert type(train.seed) is np.int64 and type(train.confidence.alpha) is np.float32
    audit = AuditOptions()
    assert audit.n_folds is None and audit.seed is None
    audit.validate()
    assert audit.n_folds == 5 and not audit.was_given("n_folds")
    given = AuditOptions(n_folds=5)
    given.validate()
    assert given.was_given("n_folds")
    active = ActiveOptions(budget=np.int64(50))
    assert type(active.budget) is np.int64
    with pytest.raises(InvalidParameterError, match="pool size"):
        active.validate(n_pool=40)  # the budget against the pool: where it is spent
