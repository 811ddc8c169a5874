"""One process-wide CSV field limit for every tagsmith CSV reader, and the one rule for
cells a spreadsheet would run as formulas.

:func:`csv.field_size_limit` is global to the process: a reader that raised it would
silently change what every later reader accepts, so a vocabulary with a long field
would load after a corpus had been read and fail on its own. Readers call
:func:`raise_csv_field_limit` instead, which sets the one documented limit
(:data:`CSV_FIELD_LIMIT`) and never lowers a larger one set by the application.
"""

from __future__ import annotations

import csv

#: the longest CSV field tagsmith reads, in characters (256 Mi): a whole document in a
#: corpus cell, a long description in a vocabulary
CSV_FIELD_LIMIT = 1 << 28


def raise_csv_field_limit() -> int:
    """Make :data:`CSV_FIELD_LIMIT` (at least) the csv module's field limit; returns it.

    >>> raise_csv_field_limit() >= CSV_FIELD_LIMIT
    True
    """
    limit = max(csv.field_size_limit(), CSV_FIELD_LIMIT)
    csv.field_size_limit(limit)
    return limit


#: a spreadsheet reads a cell that starts with one of these as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A free-text cell a spreadsheet shows as text, never runs as a formula (OWASP's
    CSV injection advice: prefix such cells with ``'``).

    >>> print(spreadsheet_safe('=HYPERLINK("http://evil")'), spreadsheet_safe("fine"))
    '=HYPERLINK("http://evil") fine
    """
    return "'" + value if value.startswith(FORMULA_START) else value
