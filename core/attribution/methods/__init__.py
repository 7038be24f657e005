"""The attribution methods, one module each, in one registry: ``METHODS`` (name -> ``MethodInfo``).

Each module in this folder writes one ``METHOD`` (``core.attribution.methods.declaration``): its
settings, plan and combine steps (or gradient rule), cost and standard error. Adding a method is
writing its module and adding it to :data:`METHODS` below; the forms, the spec parser, ``python -m
core methods``, the engine, the time estimate and the comparison kind pick it up from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.attribution.methods import (
    feature_ablation,
    gradient_shap,
    input_x_gradient,
    integrated_gradients,
    kernel_shap,
    lime,
    saliency,
    shapley,
    shapley_sampling,
)
from core.attribution.methods.declaration import MethodInfo, Param
from core.errors import SpecError
from core.text import shown

__all__ = ["METHODS", "MethodInfo", "Param", "method_info", "methods_of_family", "setting"]

METHODS: dict[str, MethodInfo] = {
    module.METHOD.name: module.METHOD
    for module in (
        feature_ablation,
        shapley,
        shapley_sampling,
        kernel_shap,
        lime,
        integrated_gradients,
        saliency,
        input_x_gradient,
        gradient_shap,
    )
}


def method_info(name: Any) -> MethodInfo:
    """The declared method called ``name``, or a SpecError listing the methods."""
    if not isinstance(name, str) or name not in METHODS:
        names = ", ".join(METHODS)
        if name is None:
            raise SpecError("method.name", f"give the method's name, one of {names}.")
        raise SpecError("method.name", f"{shown(name)} is not a method; choose one of {names}.")
    return METHODS[name]


def setting(method: str, params: Mapping[str, Any], name: str) -> Any:
    """A method's setting: ``params[name]`` when given, else the default its declaration gives.

    The engine's planners read their settings through this, so a default lives only in the
    method's ``Param`` (a parsed spec holds every setting already; a bare ``params`` from a
    test or a benchmark gets the same defaults as a spec).

    Raises:
        KeyError: the method declares no setting ``name``.
    """
    return METHODS[method].setting(params, name)


def methods_of_family(family: str) -> list[MethodInfo]:
    """Declared methods of one family ("perturbation" or "gradient")."""
    return [m for m in METHODS.values() if m.family == family]
