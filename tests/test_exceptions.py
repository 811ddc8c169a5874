"""Every tagsmith error crosses a process boundary (pickle) whole: an error raised in a
worker must reach the parent with its type, message and attributes, not as an
unpickling TypeError about its ``__init__``'s arguments."""

from __future__ import annotations

import copy
import pickle

import pytest

import tagsmith.exceptions as exceptions
from tagsmith.data.readers import FileGoneError, NoTextColumnError
from tagsmith.exceptions import TagsmithError

#: representative arguments of each class that defines its own ``__init__``; a class
#: that inherits one is built with its nearest base's (found through the MRO)
ARGUMENTS: dict[type, tuple[tuple, dict]] = {
    TagsmithError: (("something went wrong",), {}),
    exceptions.InvalidParameterError: (("k", "an integer >= 1", 0),
                                       {"owner": "members[0] (knn)"}),
    exceptions.DataError: (("expected 2 columns, found 1",), {"path": "train.tsv", "line": 7,
                                                              "parameters": ("n_folds",)}),
    exceptions.UnknownLabelError: (("cocoa",), {"path": "a.tsv", "line": 3,
                                                "vocabulary": "the vocabulary of model/"}),
    exceptions.AmbiguousLabelError: (("Bank", ["http://x/1", "http://x/2"]),
                                     {"path": "a.tsv", "line": 3}),
    exceptions.VocabularyAsCorpusError: (("lone URIs: this is a vocabulary, not a corpus",),
                                         {"why": "lone URIs", "vocab_option": "--vocab",
                                          "labelled": True, "path": "v.tsv", "line": 1}),
    exceptions.BundleError: (("manifest.json is missing",), {"path": "model"}),
    exceptions.MissingDependencyError: (("rdflib",), {"extra": "skos",
                                                      "feature": "reading SKOS vocabularies"}),
    exceptions.RejectedItemsError: (("every item rejected",),
                                    {"n_invalid_items": 2, "unknown": ["x"],
                                     "ambiguous": ["Bank"]}),
    exceptions.TeacherFailedError: (("the teacher failed after 2 rounds",),
                                    {"selected": [3, 1], "Y_teacher": [[0.5, 1.0]],
                                     "rounds": [{"round": 1, "n_selected": 2}],
                                     "cause": exceptions.LLMConfigError("401 Unauthorized")}),
    NoTextColumnError: ((["URI", "label_en"], "v.csv"), {}),
    FileGoneError: (("b.txt: deleted after the folder was listed",), {"path": "docs",
                                                                      "line": 2}),
}


def _classes() -> list[type]:
    """Every exception class tagsmith.exceptions defines, found rather than listed."""
    found = {value for value in vars(exceptions).values()
             if isinstance(value, type) and issubclass(value, BaseException)
             and value.__module__ == exceptions.__name__}

    def below(cls: type) -> None:  # and any subclass defined elsewhere, once imported
        for sub in cls.__subclasses__():
            found.add(sub)
            below(sub)

    below(TagsmithError)
    return sorted(found, key=lambda cls: cls.__name__)


def _build(cls: type) -> BaseException:
    owner = next(base for base in cls.__mro__ if "__init__" in vars(base) or base is TagsmithError)
    args, kwargs = ARGUMENTS[owner]
    return cls(*args, **kwargs)


def test_every_class_of_its_own_init_has_representative_arguments():
    # a new class taking other arguments is built with them, not with a base's
    missing = [cls.__name__ for cls in _classes() if "__init__" in vars(cls)
               and cls not in ARGUMENTS]
    assert not missing, f"add representative arguments to ARGUMENTS for {missing}"
    assert len(_classes()) >= 20


@pytest.mark.parametrize("cls", _classes(), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_every_error_survives_pickling_with_its_type_message_and_attributes(cls, protocol):
    error = _build(cls)
    error.add_note("raised in a worker")
    back = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(back) is cls
    assert str(back) == str(error) and back.args == error.args
    assert vars(back) == vars(error)
    assert back.exit_code == error.exit_code
    if isinstance(error, exceptions.InvalidParameterError):
        assert (back.name, back.expected, back.got, back.owner) == (
            error.name, error.expected, error.got, error.owner)
    if isinstance(error, ImportError):  # the built-in base's attribute, outside __dict__
        assert back.msg == error.msg
    # copy goes through the same reduction
    assert str(copy.copy(error)) == str(error) and type(copy.deepcopy(error)) is cls


def test_an_error_rebuilt_from_a_pickle_still_makes_new_errors():
    # methods that build a new error from the attributes work on the rebuilt one
    error = exceptions.UnknownLabelError("cocoa", path="a.tsv", line=3)
    back = pickle.loads(pickle.dumps(error))
    assert str(back.in_vocabulary("the vocabulary V.tsv")) == (
        "a.tsv:3: unknown label 'cocoa' (not in the vocabulary V.tsv)")
    ambiguous = pickle.loads(pickle.dumps(exceptions.AmbiguousLabelError("Bank", ["u:1", "u:2"])))
    assert str(ambiguous.located("b.tsv", 9)).startswith("b.tsv:9: label name 'Bank'")

