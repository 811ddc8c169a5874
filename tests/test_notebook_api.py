"""What a data scientist in a notebook meets: in-memory names, tables and rankings."""

import numpy as np
import pytest
from test_zeroshot import _CountingEncoder

from tagsmith import LabelSpace, ZeroShotClassifier
from tagsmith.exceptions import InvalidParameterError
from tagsmith.zeroshot.scorer import label_texts

#: GoEmotions' labels.txt, as a notebook reads it: one name per line
EMOTIONS = ["admiration", "amusement", "anger", "gratitude", "joy", "neutral"]


def test_a_space_from_names_alone_is_scored_zero_shot():
    """``LabelSpace.from_uris(names)``, the one constructor from a list, gave labels
    with no names, which zero-shot refused ("at least one label with a name, got 0")
    with nothing saying how to name them."""
    space = LabelSpace.from_names(EMOTIONS)
    assert space.uris == EMOTIONS and space.names() == EMOTIONS
    assert label_texts(space)[0] == EMOTIONS  # each label embedded by its name
    topk = ZeroShotClassifier(space, _CountingEncoder()).predict_topk(["thanks a lot"], k=3)
    assert topk.indices.shape == (1, 3) and (topk.indices >= 0).all()


def test_zero_shot_of_a_space_without_names_says_how_to_name_it():
    with pytest.raises(InvalidParameterError, match=r"with a name.*LabelSpace\.from_names"):
        ZeroShotClassifier(LabelSpace.from_uris(EMOTIONS), _CountingEncoder())


@pytest.mark.parametrize(("names", "message"), [
    ("joy", r"'names'.*a bare str"),
    ({"joy", "anger"}, r"'names'.*no order"),
    (["joy", None], r"'names\[1\]'"),
    (["joy", "  "], r"'names\[1\]'"),
])
def test_from_names_refuses_what_is_no_list_of_names(names, message):
    with pytest.raises(InvalidParameterError, match=message):
        LabelSpace.from_names(names)


def test_from_names_takes_a_series():
    pd = pytest.importorskip("pandas")
    names = pd.Series(EMOTIONS, index=np.arange(10, 10 + len(EMOTIONS)))
    assert LabelSpace.from_names(names).names() == EMOTIONS
