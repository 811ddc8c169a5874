"""The shared numeric parameter checks, seen through the parameters that use them: the
messages stay those of the hand-written checks they replaced, and bools, NaN and
non-numbers are turned away with InvalidParameterError everywhere."""

import math

import numpy as np
import pytest

from tagsmith.calibration.thresholds import tune_thresholds
from tagsmith.exceptions import InvalidParameterError
from tagsmith.labeling.client import OpenAIChatClient
from tagsmith.labeling.labeler import LabelingOptions
from tagsmith.labeling.reliability import estimate_reliability
from tagsmith.labeling.selection import select_batch
from tagsmith.models.linear import LinearOVR
from tagsmith.models.tree import LabelTree
from tagsmith.pipeline.confidence import ConfidenceOptions
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
     "parameter 'backoff_max' must be a number of seconds >= 0, got -1"),
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
