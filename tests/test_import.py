"""Importing tagsmith and running `tagsmith --help` must stay cheap."""

import subprocess
import sys

HEAVY = ["torch", "rdflib", "fastapi", "sklearn", "scipy", "sentence_transformers", "tqdm",
         "numba"]


def test_import_and_help_load_no_heavy_modules():
    code = (
        "import sys, tagsmith, tagsmith.cli as cli\n"
        "cli._register_commands()\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('LOADED:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.rsplit("LOADED:", 1)[1].strip()
    assert "Usage" in out.stdout
    assert loaded == "", f"heavy modules imported by `tagsmith --help`: {loaded}"


def test_the_lazy_exports_are_listed_by_dir_and_import():
    """dir(tagsmith) (and so tab completion) did not show TextClassifier and the other
    lazily imported names of __all__."""
    import tagsmith

    assert set(tagsmith.__all__) <= set(dir(tagsmith))
    for name in tagsmith.__all__:
        assert getattr(tagsmith, name) is not None


def test_the_public_methods_of_the_exported_types_have_docstrings():
    """TopK.concatenate, LabelSpace.to_dict, TextClassifier.is_calibrated and others
    had none: help() on the core types showed bare signatures."""
    import inspect

    import tagsmith

    missing = [f"{name}.{attr}" for name in ("TextClassifier", "LabelSpace", "TopK")
               for attr, value in vars(getattr(tagsmith, name)).items()
               if not attr.startswith("_")
               and (callable(value) or isinstance(value, (property, classmethod,
                                                          staticmethod)))
               and not inspect.getdoc(getattr(getattr(tagsmith, name), attr))]
    assert missing == []
