"""Model families, registered by name and imported lazily.

>>> sorted(available_models())
['dense_knn', 'ensemble', 'knn', 'linear', 'tree']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tagsmith._params import check_choice

if TYPE_CHECKING:  # the families import this module's registry lazily
    from tagsmith.models.base import BaseModel

# name -> "module:Class"; modules load only when a model of that family is used
_REGISTRY: dict[str, str] = {
    "linear": "tagsmith.models.linear:LinearOVR",
    "tree": "tagsmith.models.tree:LabelTree",
    "knn": "tagsmith.models.knn:KNNModel",
    "dense_knn": "tagsmith.models.dense_knn:DenseKNNModel",
    "ensemble": "tagsmith.models.ensemble:EnsembleModel",
}


def available_models() -> list[str]:
    return list(_REGISTRY)


def register_model(name: str, target: str) -> None:
    """Register a model family as ``"package.module:ClassName"``."""
    _REGISTRY[name] = target


def get_model_class(name: str) -> type[BaseModel]:
    """The class registered under ``name``; a clear error lists the known names."""
    name = check_choice("model", name, sorted(_REGISTRY))
    module_name, class_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_model(name: str, **params: Any) -> BaseModel:
    """A new model of family ``name``; unknown parameter names are a clear error."""
    from tagsmith._params import check_param_names

    model_class = get_model_class(name)
    check_param_names(model_class, params, owner=f"model {name!r}")
    return model_class(**params)


def check_model_params(name: str, params: dict) -> None:
    """Refuse unknown parameter names *and* bad values of model family ``name``, as its
    ``fit`` would, but before any data is read or any feature built."""
    validate = getattr(make_model(name, **params), "_validate_params", None)
    if validate is not None:
        validate()
