"""The one exception hierarchy of tagsmith.

Every error a user can cause derives from :class:`TagsmithError`. Messages name the
file, line or parameter, what was expected and what was found. This module imports
nothing heavy and nothing from the delivery layer (click, web frameworks), so every
layer can use it.

Exit codes used by the CLI (documented in the README) are attached to the classes,
so the delivery layer maps exceptions to codes without a table of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tagsmith._plural import and_more

if TYPE_CHECKING:
    import numpy as np
    import scipy.sparse as sp


class TagsmithError(Exception):
    """Base class of all errors raised on purpose by tagsmith.

    Every one pickles and comes back with its type, message and attributes, as an
    error raised in a worker process must to reach its parent. Python rebuilds an
    exception by calling its class with ``args`` (the message alone here), which a
    class whose ``__init__`` takes other arguments refused, or read as a label name:

    >>> import pickle
    >>> error = pickle.loads(pickle.dumps(InvalidParameterError("k", "an integer", 0)))
    >>> type(error).__name__, str(error), error.name
    ('InvalidParameterError', "parameter 'k' must be an integer, got 0", 'k')
    """

    exit_code = 1

    def __reduce__(self):
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[TagsmithError], args: tuple, state: dict) -> TagsmithError:
    """``cls``'s error with ``args`` and the attributes ``state``, its ``__init__``
    skipped: the message is made already, and the attributes are kept as they were."""
    error = cls.__new__(cls, *args)
    # the built-in base's own: an ImportError keeps its message as 'msg'
    super(TagsmithError, error).__init__(*args)
    error.__dict__.update(state)
    return error


class InvalidParameterError(TagsmithError, ValueError):
    """A parameter has a value outside what it accepts.

    >>> str(InvalidParameterError("k", "an integer >= 1", 0))
    "parameter 'k' must be an integer >= 1, got 0"

    ``owner`` names what the parameter belongs to when that is not the object
    refusing it (an ensemble's member), ahead of the message:

    >>> str(InvalidParameterError("k", "an integer >= 1", 0, owner="members[0] (knn)"))
    "members[0] (knn): parameter 'k' must be an integer >= 1, got 0"
    """

    exit_code = 2

    def __init__(self, name: str, expected: str, got: object, *, owner: str | None = None):
        self.name = name
        self.expected = expected
        self.got = got
        self.owner = owner
        where = "" if owner is None else f"{owner}: "
        super().__init__(f"{where}parameter {name!r} must be {expected}, got {got!r}")


class LabelNotFoundError(InvalidParameterError, KeyError):
    """A URI that is not in the label space (:meth:`LabelSpace.id_of`). A ``KeyError``
    as before, but with a message (a bare ``KeyError`` shows only its key's repr).

    >>> str(LabelNotFoundError("uri", "a URI in the label space (28 labels)", "u:x"))
    "parameter 'uri' must be a URI in the label space (28 labels), got 'u:x'"
    """

    __str__ = BaseException.__str__  # KeyError's would quote the whole message


class LabelIdError(InvalidParameterError, IndexError):
    """A label id outside the label space (negative, too large or not an integer); an
    ``IndexError`` as before, naming the parameter and the range of ids.

    >>> str(LabelIdError("label_id", "an integer in [0, 28)", 30))
    "parameter 'label_id' must be an integer in [0, 28), got 30"
    """


class DataError(TagsmithError):
    """Input data (a corpus, a vocabulary) could not be read as promised.

    ``path`` and ``line`` locate the problem when known; ``line`` counts from 1.

    >>> str(DataError("expected 2 columns, found 1", path="train.tsv", line=7))
    'train.tsv:7: expected 2 columns, found 1'

    ``parameters`` names the library parameters ``message`` names (``n_folds``): the
    command line says the options the user types in their place (``--folds``), as it
    does for a log record tagged ``extra={"parameters": (...)}``.
    """

    exit_code = 3

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 parameters: tuple[str, ...] = ()):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        self.parameters = tuple(parameters)
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
            where += ": "
        super().__init__(where + message)


class CorpusFormatError(DataError):
    """A corpus line or file is malformed."""


class VocabularyAsCorpusError(DataError):
    """A vocabulary given where a corpus of documents was expected
    (:func:`tagsmith.data.readers.vocabulary_refused` words it). ``why`` says how it
    was told, ``vocab_option`` names the command's option or argument taking a
    vocabulary (None: a bundle holds it), ``labelled`` whether the documents' labels
    are read: the command line rewords it where that option names this very file."""

    def __init__(self, message: str, *, why: str, vocab_option: str | None, labelled: bool,
                 path: str | Path | None = None, line: int | None = None):
        super().__init__(message, path=path, line=line)
        self.why = why
        self.vocab_option = vocab_option
        self.labelled = labelled


class VocabularyError(DataError):
    """A vocabulary file is malformed or inconsistent."""


class UnknownLabelError(DataError):
    """A corpus names a label that is not in the label space; ``vocabulary`` says which
    (a bundle's, say) in the message.

    >>> str(UnknownLabelError("cocoa", path="a.tsv", line=3).in_vocabulary(
    ...     "the vocabulary of the bundle model/"))
    "a.tsv:3: unknown label 'cocoa' (not in the vocabulary of the bundle model/)"
    """

    def __init__(self, label: str, *, path: str | Path | None = None, line: int | None = None,
                 vocabulary: str = "the vocabulary", hint: str = "", advice: str = ""):
        self.label = label
        self.vocabulary = vocabulary
        self.hint = hint  # what the key is instead (LabelSpace.unknown_hint), or ""
        self.advice = advice  # what the command offers for such a label, or ""
        where = (f"no URI, preferred name, notation or alternative label of {vocabulary}): "
                 f"it is {hint}"
                 if hint else f"not in {vocabulary})")
        super().__init__(f"unknown label {label!r} ({where}{'; ' if advice else ''}{advice}",
                         path=path, line=line)

    def in_vocabulary(self, vocabulary: str) -> UnknownLabelError:
        """The same error, naming the vocabulary that lacks the label."""
        return UnknownLabelError(self.label, path=self.path, line=self.line,
                                 vocabulary=vocabulary, hint=self.hint, advice=self.advice)

    def advised(self, advice: str) -> UnknownLabelError:
        """The same error, saying ``advice`` after it (a command's way out).

        >>> str(UnknownLabelError("rice", path="t.tsv", line=2).advised("give --vocab"))
        "t.tsv:2: unknown label 'rice' (not in the vocabulary); give --vocab"
        """
        return UnknownLabelError(self.label, path=self.path, line=self.line,
                                 vocabulary=self.vocabulary, hint=self.hint, advice=advice)


class AmbiguousLabelError(UnknownLabelError):
    """A bare label name that several live concepts of the vocabulary share.

    >>> str(AmbiguousLabelError("Bank", ["http://x/1", "http://x/2"], path="a.tsv", line=3))
    "a.tsv:3: label name 'Bank' is ambiguous: 2 concepts have it (<http://x/1>, \
<http://x/2>); write the one meant as its <uri>"
    """

    def __init__(self, label: str, candidates: list[str], *, path: str | Path | None = None,
                 line: int | None = None):
        self.label = label
        self.candidates = list(candidates)
        # "and 1,000 more" as every other list of names (and_more), not "and 1000 more"
        shown = and_more(self.candidates, 5, lambda uri: f"<{uri}>", serial=False)
        DataError.__init__(self, f"label name {label!r} is ambiguous: "
                           f"{len(self.candidates):,} concepts have it ({shown}); write the "
                           "one meant as its <uri>", path=path, line=line)

    def located(self, path: str | Path | None, line: int | None) -> AmbiguousLabelError:
        """The same error, placed at ``path:line``."""
        return AmbiguousLabelError(self.label, self.candidates, path=path, line=line)


class ReviewFormatError(DataError):
    """A review file (audit candidates with decisions) is malformed or does not fit its corpus."""


class UnsupportedFormatError(DataError):
    """A file's format could not be detected from its name, or is not supported."""


class BundleError(TagsmithError):
    """A model bundle is missing, damaged or incompatible with this tagsmith."""

    exit_code = 4

    def __init__(self, message: str, *, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class BundleTargetError(DataError, BundleError):
    """A model bundle cannot be written (or replaced) at the path given: below a file, in
    a read-only folder, over a file or a folder that is not a bundle.

    A :class:`BundleError` to code that catches those, but a path the user gave that
    cannot be written is exit code 3 as every other output path's (an audit folder, a
    vocabulary, a diagram): 4 says a bundle to read is missing, damaged or incompatible.

    >>> error = BundleTargetError("afile is a file, not a folder", path="afile/model")
    >>> str(error), error.exit_code, isinstance(error, BundleError)
    ('afile/model: afile is a file, not a folder', 3, True)
    """


class NotFittedError(TagsmithError, AttributeError):
    """A model or featurizer was used before ``fit``."""

    exit_code = 1


class MissingDependencyError(TagsmithError, ImportError):
    """An optional feature needs a package that is not installed.

    >>> str(MissingDependencyError("rdflib", extra="skos", feature="reading SKOS vocabularies"))
    "reading SKOS vocabularies needs the package 'rdflib': pip install 'tagsmith[skos]'"
    """

    exit_code = 5

    def __init__(self, package: str, *, extra: str, feature: str):
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the package {package!r}: pip install 'tagsmith[{extra}]'"
        )


class LLMError(TagsmithError):
    """An LLM endpoint failed for good: bad configuration, refused request, or
    transient errors that outlasted every retry. The message names the endpoint."""

    exit_code = 6


class LLMConfigError(LLMError):
    """The endpoint refuses every request alike (bad key, unknown model or path): no
    point in going on with other documents."""


class LLMRefusalError(LLMError):
    """The model or the provider's safety system declined one document: the model's
    refusal (OpenAI's ``message.refusal``, or an answer in prose saying it cannot help),
    a content filter (``finish_reason`` "content_filter", an error coded
    ``content_filter`` or ``content_policy_violation``), a moderation flag. Asking again
    gets the same: that document is left unanswered, for a person to take, and the run
    goes on. Counted apart from failed calls and malformed answers."""

    #: told from the response cache, where an earlier run stored it (not asked again)
    cached: bool = False


class LLMOutputError(LLMError):
    """An LLM answer that does not follow the requested format (broken JSON, wrong
    shape). The labeling engine counts these rather than stopping a run."""


class RejectedItemsError(LLMOutputError):
    """An LLM answer of the requested shape that lists items, every one of them rejected
    (invalid, naming no offered label, or ambiguous): it says nothing usable, so it is
    malformed, but what it named is kept to be counted (whole names: a report cuts the
    ones it shows).
    Read as "no label" it would make the document a negative of every label."""

    def __init__(self, message: str, *, n_invalid_items: int = 0,
                 unknown: list[str] | None = None, ambiguous: list[str] | None = None,
                 invalid_names: list[str] | None = None,
                 unrated_names: list[str] | None = None):
        self.n_invalid_items = n_invalid_items
        self.unknown = list(unknown or ())
        self.ambiguous = list(ambiguous or ())
        #: the names the invalid items gave (one with a confidence "high")
        self.invalid_names = list(invalid_names or ())
        #: of those, the ones whose item gave no confidence at all (``{"label": "none"}``)
        self.unrated_names = list(unrated_names or ())
        super().__init__(message)


class NoTeacherAnswersError(LLMError):
    """The teacher of active distillation answered none of the documents it was sent
    (every call failed or every answer was malformed): no student can be trained."""


class TeacherFailedError(TagsmithError):
    """The teacher of active distillation raised part-way through the run, after some of
    its answers were paid for. The error keeps them, so a teacher without a cache need not
    be asked again: ``selected`` (pool indices), ``Y_teacher`` (their soft targets, one
    row each) and ``rounds`` (the finished rounds' history, as
    :class:`~tagsmith.pipeline.distill.ActiveResult` has them); the teacher's own error
    is its ``__cause__``, whose exit code it takes when it is a tagsmith error.
    """

    def __init__(self, message: str, *, selected: np.ndarray, Y_teacher: sp.csr_matrix,
                 rounds: list[dict], cause: BaseException) -> None:
        self.selected = selected
        self.Y_teacher = Y_teacher
        self.rounds = rounds
        self.exit_code = getattr(cause, "exit_code", TagsmithError.exit_code)
        super().__init__(message)
