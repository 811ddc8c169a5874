"""Importing tagsmith and running `tagsmith --help` must stay cheap."""

import subprocess
import sys

import pytest

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



def test_the_help_of_every_command_survives_python_OO():
    """Click takes a command's help from its docstring, which ``python -OO`` drops:
    ``python -OO -m tagsmith train --help`` said nothing of what train does, and
    ``tagsmith --help`` lost its description. Every command's help under -OO is the
    one it has otherwise, and says something."""
    import json

    import tagsmith.cli as cli

    cli._register_commands()
    # train --help shown by the same -OO interpreter, after the helps (one start, not two)
    code = ("import json, tagsmith.cli as cli\n"
            "cli._register_commands()\n"
            "print(json.dumps({name: command.help for name, command\n"
            "                  in [('', cli.cli), *cli.cli.commands.items()]}))\n"
            "try:\n    cli.main(['train', '--help'])\nexcept SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n")
    out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True,
                         check=True)
    first, shown = out.stdout.split("\n", 1)
    helps = json.loads(first)
    expected = {"": cli.cli.help, **{name: command.help
                                     for name, command in cli.cli.commands.items()}}
    assert helps == expected
    assert all((text or "").strip() for text in helps.values()), helps
    assert "Train a model on CORPUS" in shown
    shown = subprocess.run([sys.executable, "-OO", "-m", "tagsmith", "--help"],
                           capture_output=True, text=True, check=True).stdout
    assert "give each document a set of labels" in shown


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


#: the public functions and classes README's Python API names, by module
README_API = {
    "tagsmith.data.vocab": ["load_vocabulary"],
    "tagsmith.pipeline.io": ["read_labelled"],
    "tagsmith.pipeline.train": ["TrainOptions", "train_classifier"],
    "tagsmith.pipeline.classifier": ["TextClassifier"],
    "tagsmith.pipeline.confidence": ["ConfidenceOptions", "calibrate_classifier",
                                     "heldout_from_corpus", "evaluate_confidence",
                                     "estimate_shift"],
    "tagsmith.calibration.scaling": ["fit_calibrator"],
    "tagsmith.calibration.reliability": ["reliability_report"],
    "tagsmith.conformal.risk": ["fit_recall_control"],
    "tagsmith.conformal.lpicp": ["fit_powerset_icp"],
    "tagsmith.calibration.shift": ["estimate_label_shift"],
    "tagsmith.pipeline.audit": ["AuditOptions", "audit_corpus", "read_audit_corpus",
                                "apply_decisions"],
    "tagsmith.audit.detect": ["find_label_issues"],
    "tagsmith.models.knn": ["KNNModel"],
    "tagsmith.audit.simulate": ["inject_label_noise"],
    "tagsmith.labeling.client": ["OpenAIChatClient", "CachedClient", "ScriptedLLM",
                                 "complete_all"],
    "tagsmith.labeling.cache": ["ResponseCache"],
    "tagsmith.labeling.taxonomy": ["generate_taxonomy"],
    "tagsmith.labeling.labeler": ["label_documents"],
    "tagsmith.labeling.reliability": ["estimate_reliability"],
    "tagsmith.labeling.selection": ["rad_probabilities", "select_batch"],
    "tagsmith.zeroshot.encoder": ["SentenceEncoder"],
    "tagsmith.zeroshot.scorer": ["ZeroShotClassifier", "blend_topk"],
    "tagsmith.pipeline.distill": ["distill_classifier", "active_distill"],
}
#: types the API returns whose methods README calls (``sets.recall(Y)``: predict_sets;
#: ``clf.label_shift = estimate_shift(...)``) and the classifier's calibration parts
RETURNED_TYPES = {"tagsmith.conformal.sets": ["LabelSets"],
                  "tagsmith.conformal.lpicp": ["PowersetSets"],
                  "tagsmith.calibration.scaling": ["Calibrator"],
                  "tagsmith.calibration.shift": ["LabelShift"],
                  "tagsmith.pipeline.confidence": ["ConformalModel"]}
#: and what the packages export (their __init__)
PACKAGE_EXPORTS = ["tagsmith", "tagsmith.data", "tagsmith.metrics", "tagsmith.models"]
#: modules README names without naming their functions: every public one defined there
README_MODULES = ["tagsmith.pipeline.llm"]


def _unhinted(qualname, function):
    import inspect

    signature = inspect.signature(function)
    missing = [name for name, parameter in signature.parameters.items()
               if name not in ("self", "cls")
               and parameter.annotation is inspect.Parameter.empty]
    if function.__name__ != "__init__" and signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return [f"{qualname}({name})" for name in missing]


def _public_callables(module_name, names):
    import importlib
    import inspect

    module = importlib.import_module(module_name)
    for name in names:
        value = getattr(module, name)
        if not inspect.isclass(value):
            if inspect.isfunction(value):
                yield f"{module_name}.{name}", value
            continue
        for attr, member in vars(value).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if isinstance(member, property):
                for accessor in (member.fget, member.fset):
                    if accessor is not None:
                        yield f"{module_name}.{name}.{attr}", accessor
            elif inspect.isfunction(member):
                yield f"{module_name}.{name}.{attr}", member


def test_the_public_api_has_type_hints_on_every_parameter_and_return():
    """``Y``, ``y_true``, ``crossfit_Y``, ``png``, ``classifier`` and other array and
    model parameters had none: to a user's IDE and type checker they were ``Any``."""
    import importlib
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    modules = {name: list(names) for name, names in README_API.items()}
    for module_name, names in RETURNED_TYPES.items():
        modules.setdefault(module_name, []).extend(names)
    for package in PACKAGE_EXPORTS:
        module = importlib.import_module(package)
        modules[package] = [name for name in getattr(module, "__all__", dir(module))
                            if not name.startswith("_")
                            and callable(getattr(module, name))]
    for module_name in README_MODULES:
        module = importlib.import_module(module_name)
        modules[module_name] = [name for name, value in vars(module).items()
                                if not name.startswith("_") and callable(value)
                                and getattr(value, "__module__", None) == module_name]
    # every model family README lists (``--model NAME``) and their base
    from tagsmith.models import _REGISTRY

    for target in [*_REGISTRY.values(), "tagsmith.models.base:BaseModel"]:
        module_name, class_name = target.split(":")
        modules.setdefault(module_name, []).append(class_name)
    missing = []
    for module_name, names in modules.items():
        for qualname, function in _public_callables(module_name, names):
            if function.__module__.split(".")[0] != "tagsmith":
                continue
            missing += _unhinted(qualname, function)
    assert missing == []
    # the list follows README: a name it no longer shows is dropped here too
    assert [name for names in README_API.values() for name in names
            if name not in readme] == []
    assert [name for name in README_MODULES if f"`{name}`" not in readme] == []



def test_the_readme_api_s_functions_and_public_methods_have_docstrings():
    """``OpenAIChatClient.complete`` and ``CachedClient.complete``, the calls README's
    labeling section makes, had none (help() showed a bare signature); only the three
    core types' methods were checked. Every function README's Python API names, and
    every public method and property of its classes and the types they return, has
    one of its own (``__init__`` aside: the class's docstring says it; a property's
    getter's is its setter's)."""
    documented: dict[str, bool] = {}  # a property's getter and setter: one name
    for module_name, names in (*README_API.items(), *RETURNED_TYPES.items()):
        for qualname, function in _public_callables(module_name, names):
            if not qualname.endswith(".__init__"):
                documented[qualname] = (documented.get(qualname, False)
                                        or bool((function.__doc__ or "").strip()))
    assert "tagsmith.labeling.client.CachedClient.complete" in documented
    assert [qualname for qualname, has in documented.items() if not has] == []

def test_the_hint_check_sees_a_missing_hint():
    def untyped(Y, *, k: int = 1) -> None:
        pass

    def no_return(Y: object):
        pass

    assert _unhinted("untyped", untyped) == ["untyped(Y)"]
    assert _unhinted("no_return", no_return) == ["no_return(return)"]


#: what cannot carry a sensible hint, by qualified name, each with its reason (the
#: hint test walks every module of tagsmith and skips only these)
UNHINTABLE: dict[str, str] = {}


def _module_callables(package_name):
    """Every public function and public method of a public class defined in a module of
    ``package_name`` (the package itself included), as ``(qualname, function)``."""
    import importlib
    import inspect
    import pkgutil

    package = importlib.import_module(package_name)
    names = [package_name]
    if hasattr(package, "__path__"):
        names += [info.name for info in pkgutil.walk_packages(package.__path__,
                                                              f"{package_name}.")]
    for module_name in names:
        module = importlib.import_module(module_name)
        defined = [name for name, value in vars(module).items()
                   if not name.startswith("_")
                   and getattr(value, "__module__", None) == module_name
                   and (inspect.isfunction(value) or inspect.isclass(value))]
        for qualname, function in _public_callables(module_name, defined):
            if function.__module__.split(".")[0] == "tagsmith":  # not Protocol's __init__
                yield qualname, function


def test_every_public_function_and_method_has_type_hints():
    """Public functions outside README's API (evaluate_classifier's ``classifier`` and
    ``Y``, cross_fit_topk's ``X`` and ``Y``, ...) had none. Every module of tagsmith
    (private ones too: their public names are what the others import) is walked, so new
    code is covered without listing it here."""
    found = list(_module_callables("tagsmith"))
    # the walk reaches functions, methods and private modules' helpers
    assert {"tagsmith.pipeline.evaluate.evaluate_classifier",
            "tagsmith.audit.duplicates.NearLeakIndex.search",
            "tagsmith.audit._kernels.run_in_threads"} <= {name for name, _ in found}
    missing = [hole for qualname, function in found if qualname not in UNHINTABLE
               for hole in _unhinted(qualname, function)]
    assert missing == []
    # an allow-listed name that no longer exists, or is hinted now, is dropped from it
    assert sorted(set(UNHINTABLE) - {qualname for qualname, function in found
                                     if _unhinted(qualname, function)}) == []


def test_the_exported_classes_methods_name_their_options_in_their_docstrings():
    """The methods of the classes ``tagsmith`` exports took options their docstrings
    named nowhere: ``predict_sets``'s ``alpha`` (None: the stored one), ``max_set_size``
    and ``min_confidence``, ``suggest``'s ``lang``, ``predict_topk``'s
    ``adjust_shift``, ``LabelSpace.from_uris``'s ``names`` and ``lang``. Each optional
    or keyword-only parameter is named (````name````) in the method's docstring or in
    that of a method of its class it refers to (``:meth:`predict_sets```)."""
    import inspect
    import re

    import tagsmith

    missing = []
    for export in tagsmith.__all__:
        cls = getattr(tagsmith, export)
        if not inspect.isclass(cls):
            continue
        for name, member in vars(cls).items():
            function = member.__func__ if isinstance(member, classmethod | staticmethod) \
                else member
            if name.startswith("_") or not inspect.isfunction(function):
                continue
            docs, seen, todo = "", set(), [name]
            while todo:  # the docstring and those it refers to, and theirs
                seen.add(todo[-1])
                doc = inspect.getdoc(getattr(cls, todo.pop())) or ""
                docs += doc
                todo += [ref for ref in re.findall(r":meth:`(\w+)`", doc)
                         if ref not in seen and hasattr(cls, ref)]
            for param in inspect.signature(function).parameters.values():
                optional = param.kind is param.KEYWORD_ONLY or param.default is not param.empty
                if optional and not re.search(rf"``{param.name}(``|=)", docs):
                    missing.append(f"{export}.{name} {param.name}")
    assert not missing, missing


#: the packages below the pipeline layer (../shared/DESIGN.md: the engine, then domain
#: and I/O), which may import neither the pipeline nor the delivery layer above it
LOWER_PACKAGES = ["models", "features", "calibration", "conformal", "audit", "labeling",
                  "zeroshot", "data", "metrics", "store"]
UPPER = ("tagsmith.pipeline", "tagsmith.cli", "tagsmith.service")
#: (file under src/tagsmith, module, name) -> why a lower module needs it from above
ALLOWED_UPWARD = {
    ("audit/scores.py", "tagsmith.pipeline.crossfit", "cross_fit_topk"):
        "crossfit_scores fits a model per fold, which is pipeline work",
    ("audit/scores.py", "tagsmith.pipeline.crossfit", "CrossFitScores"):
        "a type hint only (TYPE_CHECKING): from_crossfit wraps the pipeline's result",
    ("audit/review.py", "tagsmith.pipeline.llm", "_read_soft_labels"):
        "apply-review --decide-from reads label's output with label's own reader (its "
        "copies and repeated lines), inside label_answers; moving that reader down to "
        "tagsmith.labeling would drop this",
    ("audit/warmup.py", "tagsmith.pipeline.audit", "AuditOptions"):
        "the warm-up child runs a tiny audit (audit_corpus) to compile the audit's "
        "kernels before a large audit: imported in the child's function only",
    ("audit/warmup.py", "tagsmith.pipeline.audit", "audit_corpus"):
        "the warm-up child's tiny audit (above)",
    ("audit/warmup.py", "tagsmith.pipeline.audit", "_crossfit_model"):
        "with a bundle, the warm-up child fits the model family the audit's cross-fitting "
        "will fit, as the audit decides it (imported in the function, only with a bundle)",
    ("zeroshot/scorer.py", "tagsmith.pipeline.classifier", "Suggestion"):
        "ZeroShotClassifier.suggest returns TextClassifier.suggest's type (imported in "
        "the method, after the encoder has run, and for its type hint); moving the "
        "dataclass below the pipeline would drop this",
}


def test_importing_the_lower_packages_imports_no_pipeline():
    """Every module of the packages below the pipeline imports, in a fresh interpreter,
    without loading tagsmith.pipeline (or the CLI)."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"for name in {LOWER_PACKAGES!r}:\n"
        "    package = importlib.import_module('tagsmith.' + name)\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print('UPPER:' + ','.join(sorted(m for m in sys.modules\n"
        f"                               if m.startswith({UPPER!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.rsplit("UPPER:", 1)[1].strip() == ""


def _upward_imports(root, path):
    """``(file, module, name)`` of each import from a layer above in ``path``, at the top
    or inside a function (a lazy import dodging a cycle hides from sys.modules)."""
    import ast

    relative = path.relative_to(root).as_posix()
    # the package a relative import starts from ("from ..pipeline import x" in audit/)
    package = ["tagsmith", *path.relative_to(root).parent.parts]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:  # "from tagsmith import pipeline" names the layer
                if _above(module) or _above(f"{module}.{alias.name}"):
                    yield relative, module, alias.name
        elif isinstance(node, ast.Import):
            yield from ((relative, alias.name, "") for alias in node.names
                        if _above(alias.name))


def _above(module: str) -> bool:
    """Whether ``module`` is one of :data:`UPPER` or inside it (not one that merely
    begins alike)."""
    return any(module == upper or module.startswith(upper + ".") for upper in UPPER)


def test_the_scan_of_imports_finds_each_way_of_naming_a_layer_above(tmp_path):
    """A lower module reaching the pipeline by ``from tagsmith import pipeline`` or by a
    relative import is found as one naming ``tagsmith.pipeline...`` is (the scan read only
    the latter), and a module that merely shares the prefix is not."""
    module = tmp_path / "audit" / "lazy.py"
    module.parent.mkdir()
    module.write_text("from tagsmith import pipeline, topk\n"
                      "from ..pipeline.crossfit import split_order\n"
                      "from .. import cli\n"
                      "from . import detect\n"
                      "def f():\n"
                      "    from tagsmith.pipeline import train\n"
                      "    import tagsmith.service.app\n"
                      "    from tagsmith import pipelines\n", encoding="utf-8")
    assert sorted(_upward_imports(tmp_path, module)) == [
        ("audit/lazy.py", "tagsmith", "cli"), ("audit/lazy.py", "tagsmith", "pipeline"),
        ("audit/lazy.py", "tagsmith.pipeline", "train"),
        ("audit/lazy.py", "tagsmith.pipeline.crossfit", "split_order"),
        ("audit/lazy.py", "tagsmith.service.app", "")]


def test_the_lower_packages_import_nothing_from_the_layers_above():
    """models/ensemble.py, audit/detect.py, audit/duplicates.py and audit/review.py
    imported split, grouping and vocabulary checks from the pipeline inside functions:
    the engine and the domain layer depended upward, hidden from import-time checks."""
    from pathlib import Path

    import tagsmith

    root = Path(tagsmith.__file__).parent
    found = [hit for name in LOWER_PACKAGES for path in sorted((root / name).rglob("*.py"))
             for hit in _upward_imports(root, path)]
    assert ("audit/scores.py", "tagsmith.pipeline.crossfit", "cross_fit_topk") in found
    assert [hit for hit in found if hit not in ALLOWED_UPWARD] == []
    # an allowance no longer needed is dropped from the list
    assert sorted(set(ALLOWED_UPWARD) - set(found)) == []


#: modules no everyday command on a TF-IDF bundle needs: scikit-learn (with the
#: scipy.stats it imports) was 1.3 s of a one-document `suggest`, numba (imported with
#: the training pipeline) 0.8 s of an `eval`; scipy.special (the Wilson interval's
#: quantile, imported with tagsmith.metrics) 6 MiB and 0.05 s of every `suggest` and `eval`
NOT_FOR_PREDICTION = ["sklearn", "scipy.stats", "scipy.special", "torch",
                      "sentence_transformers", "matplotlib", "rdflib", "numba"]


def _train(goemotions_small, tmp_path_factory, *options: str):
    from click.testing import CliRunner

    import tagsmith.cli as cli

    cli._register_commands()
    out = tmp_path_factory.mktemp("import") / "model"
    result = CliRunner().invoke(cli.cli, ["-q", "train", str(goemotions_small["dev"]),
                                          "--vocab", str(goemotions_small["vocab"]),
                                          "-o", str(out), "--feature-param", "min_df=1",
                                          *options])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def small_bundle(goemotions_small, tmp_path_factory):
    return _train(goemotions_small, tmp_path_factory)


def _loaded_by(args: list[str]) -> list[str]:
    """The modules of :data:`NOT_FOR_PREDICTION` a CLI run of ``args`` imports."""
    return _loaded_by_each([args])[0]


def _loaded_by_each(runs: list[list[str]]) -> list[list[str]]:
    """:func:`_loaded_by` of each of ``runs``, run in turn in one fresh interpreter (one
    start and one import of the CLI, not one each): the modules present after each run,
    so that a module a run imports shows from that run on, a run that imports none of
    them finds none unless one before it did (and that one is reported first)."""
    code = (
        "import sys, tagsmith.cli as cli\n"
        "cli._register_commands()\n"
        f"for args in {[[str(arg) for arg in args] for args in runs]!r}:\n"
        "    try:\n        cli.main(args)\n    except SystemExit as exc:\n"
        "        assert not exc.code, (args, exc.code)\n"
        "    print('LOADED:' + ','.join(m for m in "
        f"{NOT_FOR_PREDICTION!r} if m in sys.modules), flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = [line.removeprefix("LOADED:").strip() for line in out.stdout.splitlines()
              if line.startswith("LOADED:")]
    assert len(loaded) == len(runs), out.stdout
    return [names.split(",") if names else [] for names in loaded]


def test_suggest_imports_no_training_or_plotting_library(small_bundle, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("Thanks a lot, you are great!\nThis is so sad.\n")
    assert _loaded_by(["-q", "suggest", str(small_bundle), str(docs)]) == []


def test_eval_imports_no_training_or_plotting_library(small_bundle, goemotions_small):
    assert _loaded_by(["-q", "eval", str(small_bundle), str(goemotions_small["test"]),
                       "--json"]) == []


@pytest.fixture(scope="module")
def calibrated_bundle(goemotions_small, tmp_path_factory):
    return _train(goemotions_small, tmp_path_factory, "--calibration-fraction", "0.3")


def test_a_calibrated_bundle_predicts_without_numba(calibrated_bundle, goemotions_small,
                                                    tmp_path):
    """Its isotonic curves were evaluated by a numba kernel, and loading its conformal
    sets imported the LP-ICP's: 0.85 s of numba's import. (``eval --calibration``
    reports the LP-ICP's sets too, whose count of sets is compiled.)"""
    bundle = calibrated_bundle
    docs = tmp_path / "docs.txt"
    docs.write_text("Thanks a lot, you are great!\nThis is so sad.\n")
    runs = [["-q", "suggest", str(bundle), str(docs), "--sets"],
            ["-q", "eval", str(bundle), str(goemotions_small["test"]), "--json"]]
    for args, loaded in zip(runs, _loaded_by_each(runs), strict=True):
        assert loaded == [], args


def test_info_and_shift_import_no_training_or_plotting_library(calibrated_bundle,
                                                               goemotions_small, tmp_path):
    """README says `shift` and `info` on a linear bundle import neither numba nor
    scikit-learn; only `suggest` and `eval` were checked. shift needs a calibrated
    bundle; each method, its save (a copy: the fixture is shared) and its clearing."""
    import shutil

    bundle = tmp_path / "model"
    shutil.copytree(calibrated_bundle, bundle)
    test = str(goemotions_small["test"])
    runs = [["-q", *map(str, args)] for args in (
        ["info", bundle], ["info", bundle, "--json"],
        ["shift", bundle, test, "--min-count", "5"],
        ["shift", bundle, test, "--min-count", "5", "--method", "bbse", "--json"],
        ["shift", bundle, test, "--min-count", "5", "--save", "--save-unsupported"],
        ["info", bundle], ["shift", bundle, "--clear"])]
    for args, loaded in zip(runs, _loaded_by_each(runs), strict=True):
        assert loaded == [], args


#: the entry points ``tagsmith`` exports, by the module that defines them (which README
#: and older code import from: both ways must keep working and give the same object)
TOP_LEVEL = {
    "tagsmith.data.vocab": ["load_vocabulary"],
    "tagsmith.pipeline.io": ["read_labelled"],
    "tagsmith.data.labelspace": ["LabelSpace"],
    "tagsmith.data.document": ["Document"],
    "tagsmith.topk": ["TopK"],
    "tagsmith.pipeline.train": ["TrainOptions", "train_classifier"],
    "tagsmith.pipeline.classifier": ["TextClassifier"],
    "tagsmith.pipeline.evaluate": ["evaluate_classifier"],
    "tagsmith.pipeline.compare": ["compare_predictions"],
    "tagsmith.pipeline.confidence": ["ConfidenceOptions", "calibrate_classifier",
                                     "heldout_from_corpus", "evaluate_confidence",
                                     "estimate_shift"],
    "tagsmith.pipeline.audit": ["AuditOptions", "audit_corpus", "read_audit_corpus",
                                "apply_decisions"],
    "tagsmith.pipeline.distill": ["distill_classifier", "active_distill", "ActiveOptions"],
    "tagsmith.zeroshot.scorer": ["ZeroShotClassifier"],
    "tagsmith.exceptions": ["TagsmithError", "InvalidParameterError", "DataError"],
}


def test_the_entry_points_are_exported_by_the_package_and_its_docstring_names_them():
    """``tagsmith`` exported four names: train_classifier, evaluate_classifier,
    compare_predictions, the options classes and audit_corpus needed deep imports, and
    help(tagsmith) pointed to none of them. Each is importable from ``tagsmith`` (the
    same object as from its module, whose import keeps working), listed by ``__all__``
    and dir(), and named with its module in the package's docstring."""
    import importlib

    import tagsmith

    names = [name for names in TOP_LEVEL.values() for name in names]
    assert sorted(set(tagsmith.__all__) - {"__version__"}) == sorted(names) \
        == sorted(tagsmith._EXPORTS)
    assert set(names) <= set(dir(tagsmith))
    namespace: dict = {}
    exec(f"from tagsmith import {', '.join(names)}", namespace)
    for module_name, defined in TOP_LEVEL.items():
        module = importlib.import_module(module_name)
        for name in defined:
            assert namespace[name] is getattr(module, name) is getattr(tagsmith, name)
            assert f":{'class' if isinstance(namespace[name], type) else 'func'}:`{name}`" \
                in (tagsmith.__doc__ or ""), name
        assert f"``{module_name}``" in (tagsmith.__doc__ or "") or \
            f"``{module_name.rsplit('.', 1)[0]}``" in (tagsmith.__doc__ or ""), module_name
    with pytest.raises(AttributeError, match="no attribute 'train_clasifier'"):
        tagsmith.train_clasifier  # noqa: B018


def test_importing_the_package_alone_imports_no_heavy_module_nor_the_pipeline():
    """The exports are lazy: ``import tagsmith`` loads none of the modules behind them."""
    code = ("import sys, tagsmith\n"
            "print('LOADED:' + ','.join(m for m in sys.modules if m.split('.')[0] in\n"
            f"      {[*HEAVY, 'numpy']!r} or m.startswith('tagsmith.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.rsplit("LOADED:", 1)[1].strip() == ""
