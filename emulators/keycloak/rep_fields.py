"""Type-checked reading of JSON representations (realm import and admin bodies)."""

from __future__ import annotations

from typing import Any


class ImportProblem(ValueError):
    """A realm representation that cannot be imported; the message is safe to show."""


def as_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImportProblem(f"{what} must be an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportProblem(f"{what} must be an array")
    return value


def as_str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ImportProblem(f"{what} must be a string")
    return value


def as_bool(value: Any, default: bool, what: str) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ImportProblem(f"{what} must be a boolean")
    return value


def as_int(value: Any, default: int, what: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImportProblem(f"{what} must be an integer")
    return value


def string_map(value: Any, what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, item in as_dict(value, what).items():
        if isinstance(item, list):  # realm attributes are sometimes exported as lists
            item = item[0] if item else ""
        if isinstance(item, bool):
            item = "true" if item else "false"
        if not isinstance(item, str | int | float):
            raise ImportProblem(f"{what}.{key} must be a string")
        result[str(key)] = str(item)
    return result


def multi_map(value: Any, what: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, item in as_dict(value, what).items():
        values = item if isinstance(item, list) else [item]
        if not all(isinstance(v, str) for v in values):
            raise ImportProblem(f"{what}.{key} must be a string array")
        result[str(key)] = list(values)
    return result


def str_list(value: Any, what: str) -> list[str]:
    items = as_list(value, what)
    if not all(isinstance(item, str) for item in items):
        raise ImportProblem(f"{what} must be a string array")
    return list(items)
