"""Name → class registries. Registering a method also stores its config schema in Hydra's ConfigStore."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hydra.core.config_store import ConfigStore

if TYPE_CHECKING:
    from kronbench.config import MethodConfig
    from kronbench.methods.base import Method

M = TypeVar("M", bound="type[Method]")

METHODS: dict[str, type[Method]] = {}
METHOD_SCHEMAS: dict[str, type[MethodConfig]] = {}


SCHEMA_GROUP = (
    "method/schema"  # conf/method/<name>.yaml opens with `defaults: [schema/<name>@_here_, _self_]`
)


def register_method(name: str, config: type[MethodConfig]) -> Callable[[M], M]:
    """Class decorator: register a :class:`Method` under `name` with its dataclass schema `config`."""

    def wrap(cls: M) -> M:
        if name in METHODS:
            raise ValueError(
                f"method {name!r} is registered twice ({METHODS[name].__name__} and {cls.__name__})"
            )
        METHODS[name] = cls
        METHOD_SCHEMAS[name] = config
        ConfigStore.instance().store(group=SCHEMA_GROUP, name=name, node=config)
        return cls

    return wrap


def get_method(name: str) -> type[Method]:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; registered methods: {sorted(METHODS)}")
    return METHODS[name]
