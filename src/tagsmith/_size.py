"""The one helper for sizes in messages and log lines ("512 bytes", "40 KB", "1.5 MB")."""

from __future__ import annotations

from tagsmith._plural import plural_s

_UNITS = ("KB", "MB", "GB", "TB")


def byte_size(n_bytes: float) -> str:
    """``n_bytes`` in the unit that shows it at every scale: bytes below 1 KB, then
    KB, MB, GB, TB (of 1024), with one decimal below 10 of a unit and none above, so
    that a small model's weights do not read "0 MB".

    >>> [byte_size(n) for n in (0, 1, 1000, 1024, 40_000, 1_572_864, 340 * 2 ** 20)]
    ['0 bytes', '1 byte', '1000 bytes', '1.0 KB', '39 KB', '1.5 MB', '340 MB']
    >>> byte_size(2 ** 20 - 1), byte_size(5 * 2 ** 40)
    ('1.0 MB', '5.0 TB')
    """
    n = int(n_bytes)
    if n < 1024:
        return f"{n} byte{plural_s(n)}"
    value = n / 1024
    for i, unit in enumerate(_UNITS):
        shown = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        if float(shown) < 1024 or i == len(_UNITS) - 1:
            return f"{shown} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
