"""Checks of the test suite itself."""

import ast
import collections
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_module_defines_a_top_level_name_twice():
    """Stop 58's duplicates pass added a second ``_apply_review_cli`` (three parameters)
    below the first (four) in test_audit_review.py: the later one replaced the earlier
    at import, seven tests called it with four arguments and failed, and ruff said
    nothing (pyflakes flags a redefinition only of an unused name). A test that is
    redefined the same way is never run at all."""
    twice = {}
    for path in sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        counts = collections.Counter(
            node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
        names = sorted(name for name, n in counts.items() if n > 1)
        if names:
            twice[path.name] = names
    assert twice == {}
