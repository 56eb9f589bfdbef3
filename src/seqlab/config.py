"""YAML run configs validated with pydantic v2.

A config file is a YAML mapping; schemas are trees of frozen `Section` models (one per
component, next to the component). The pipeline is

    load_yaml(path) -> apply_overrides(data, ["train.lr=3e-4"]) -> validate(schema)

and every failure raises `ConfigError` naming the dotted key path, the bad value, what
was expected, and the file:

    ConfigError: train.clip_norm: must be greater than 0 (got -1) (in configs/x.yaml)

Sections validate in pydantic's default (lax) mode: "abc" for an int fails, a YAML int
for a float passes, and YAML lists become tuples. Strict mode is not used because it
refuses lists for tuple fields and strings for Path fields, which is all YAML can give.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from enum import Enum
from pathlib import Path, PurePath
from typing import Annotated, Any, TypeVar, Union

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

__all__ = [
    "ConfigError",
    "Section",
    "apply_overrides",
    "dump_config",
    "load_config",
    "load_yaml",
    "save_config",
    "validate",
]

SchemaT = TypeVar("SchemaT", bound=BaseModel)


class ConfigError(ValueError):
    """A config file or override is invalid; the message names key path and source."""


class Section(BaseModel):
    """Base for config sections: unknown keys are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# ---------------------------------------------------------------- YAML reading


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads `3e-4` and `1e5` as floats and refuses duplicate keys.

    PyYAML implements YAML 1.1, whose float pattern needs a dot and a signed exponent,
    so `lr: 3e-4` would silently become the string "3e-4".
    """


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base` followed by an overriding key is not a duplicate
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader


def _yaml_error_text(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping; an empty file reads as `{}`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid YAML in {path}: {_yaml_error_text(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: top level must be a mapping of keys, got {type(data).__name__}"
        )
    return data


# ------------------------------------------------------------------ overrides


def _parse_override(override: str, source: str) -> tuple[list[str], Any]:
    key, sep, text = override.partition("=")
    parts = key.strip().split(".")
    if not sep or any(not p.strip() for p in parts):
        raise ConfigError(
            f"{source} {override!r}: expected KEY.PATH=VALUE, e.g. train.lr=3e-4"
        )
    try:
        value = _parse_yaml(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(
            f"{source} {override!r}: value is not valid YAML ({_yaml_error_text(err)})"
        ) from None
    return [p.strip() for p in parts], value


def _child(node: Any, part: str) -> tuple[Any, str | int]:
    """The container key for `part` in `node` (list indices are ints)."""
    if isinstance(node, list) and part.lstrip("-").isdigit():
        index = int(part)
        if not -len(node) <= index < len(node):
            raise IndexError(part)
        return node, index
    if isinstance(node, dict):
        return node, part
    raise TypeError(part)


def _set_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node: Any = data
    for depth, part in enumerate(parts):
        try:
            node, key = _child(node, part)
        except (TypeError, IndexError):
            where = ".".join(parts[:depth]) or "<top level>"
            raise ValueError(f"{where} is {node!r}, not a mapping") from None
        if depth == len(parts) - 1:
            node[key] = value
        else:
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str], source: str = "--set"
) -> dict[str, Any]:
    """Return a copy of `data` with each `a.b.c=value` override applied.

    Values are parsed as YAML (`3e-4` -> float, `true`, `[1, 2]`, `null`,
    `{kind: gru_lm}`); missing intermediate mappings are created; a numeric part
    indexes into an existing list. An empty value means null. Keys unknown to the
    schema are reported later by `validate`.
    """
    result = copy.deepcopy(data)
    for override in overrides:
        parts, value = _parse_override(override, source)
        try:
            _set_path(result, parts, value)
        except ValueError as err:
            raise ConfigError(f"{source} {override!r}: {err}") from None
    return result


# ----------------------------------------------------------------- validation


def _unwrap(tp: Any) -> tuple[Any, str | None]:
    """Strip Annotated/Optional; return the inner type and any discriminator name."""
    discriminator = None
    while True:
        if typing.get_origin(tp) is Annotated:
            for meta in tp.__metadata__:
                if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                    discriminator = meta.discriminator
            tp = tp.__origin__
            continue
        args = [a for a in _union_args(tp) if a is not type(None)]
        if _union_args(tp) and len(args) == 1:
            tp = args[0]
            continue
        return tp, discriminator


def _union_args(tp: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(tp)
    return typing.get_args(tp) if origin in (Union, types.UnionType) else ()


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_variant(tp: Any, discriminator: str | None, tag: Any) -> Any:
    """The union member that pydantic names `tag` in an error location, or None."""
    for variant in _union_args(tp):
        inner, _ = _unwrap(variant)
        if tag == getattr(inner, "__name__", None):  # smart unions: ('x', 'int')
            return inner
        if _is_model(inner) and tag in _model_tags(inner, discriminator):
            return inner
    return None


def _model_tags(model: type[BaseModel], discriminator: str | None) -> tuple[Any, ...]:
    """The Literal values of `model`'s discriminator field, e.g. ('lstm_lm',)."""
    field = model.model_fields.get(discriminator) if discriminator else None
    return typing.get_args(_unwrap(field.annotation)[0]) if field else ()


def _union_tags(tp: Any, discriminator: str | None) -> list[Any]:
    """All tag values of a discriminated union, in declaration order."""
    variants = [_unwrap(v)[0] for v in _union_args(tp)]
    return [t for v in variants if _is_model(v) for t in _model_tags(v, discriminator)]


def _field_type(model: type[BaseModel], name: Any) -> tuple[Any, str | None]:
    for field_name, field in model.model_fields.items():
        if name in (field_name, field.alias):
            disc = field.discriminator if isinstance(field.discriminator, str) else None
            tp, inner_disc = _unwrap(field.annotation)
            return tp, disc or inner_disc
    return None, None


def _item_type(tp: Any) -> tuple[Any, str | None]:
    args = typing.get_args(tp)
    if not args:
        return None, None
    return _unwrap(args[-1] if args[-1] is not Ellipsis else args[0])


def _resolve_loc(
    schema: type[BaseModel], loc: Sequence[str | int]
) -> tuple[list[str | int], Any, str | None]:
    """Drop union tags from a pydantic error location; find the type it ends in.

    Pydantic puts the chosen tag into locations of discriminated unions:
    ('model', 'lstm_lm', 'hidden_size') is reported as model.hidden_size.
    """
    path: list[str | int] = []
    tp: Any = schema
    discriminator: str | None = None
    for part in loc:
        if _union_args(tp):
            variant = _union_variant(tp, discriminator, part)
            if variant is not None:
                tp, discriminator = variant, None
                continue
        path.append(part)
        if _is_model(tp):
            tp, discriminator = _field_type(tp, part)
        elif typing.get_origin(tp) in (list, tuple, set, frozenset, dict):
            tp, discriminator = _item_type(tp)
        else:
            tp, discriminator = None, None
    return path, tp, discriminator


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _allowed_keys(section: Any) -> str:
    if not _is_model(section):
        return ""
    names = [f.alias or name for name, f in section.model_fields.items()]
    return "; allowed keys: " + ", ".join(names)


def _closest_key(section: Any, key: str) -> str:
    """ " (did you mean 'hidden_size'?)" for a key close to an allowed one."""
    if not _is_model(section):
        return ""
    names = [f.alias or name for name, f in section.model_fields.items()]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_error(schema: type[BaseModel], err: ErrorDetails) -> str:
    path, tp, discriminator = _resolve_loc(schema, err["loc"])
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "extra_forbidden":
        _, parent, _ = _resolve_loc(schema, err["loc"][:-1])
        hint = _closest_key(parent, str(path[-1]))
        allowed = _allowed_keys(parent)
        return f"{_dotted(path)}: unknown key {path[-1]!r}{hint}{allowed}"
    if kind == "missing":
        return f"{_dotted(path)}: required key is missing"
    if kind == "union_tag_invalid":
        key = _dotted([*path, ctx["discriminator"].strip("'")])
        return f"{key}: must be one of {ctx['expected_tags']} (got {ctx['tag']!r})"
    if kind == "union_tag_not_found":
        key = _dotted([*path, ctx["discriminator"].strip("'")])
        tags = ", ".join(repr(t) for t in _union_tags(tp, discriminator))
        return f"{key}: required key is missing; choose one of {tags}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "must be a mapping of keys"
    else:
        message = re.sub(r"^Input should be\b", "must be", err["msg"])
    return f"{_dotted(path)}: {message} (got {_short_repr(err['input'])})"


def validate(schema: type[SchemaT], data: dict[str, Any], source: str) -> SchemaT:
    """Validate `data` against `schema`, raising one ConfigError listing every error."""
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        lines = [_format_error(schema, e) for e in err.errors()]
    if len(lines) == 1:
        raise ConfigError(f"{lines[0]} (in {source})")
    listing = "\n".join(f"  {line}" for line in lines)
    raise ConfigError(f"{len(lines)} errors in {source}:\n{listing}")


def load_config(
    schema: type[SchemaT], path: str | Path, overrides: Sequence[str] = ()
) -> SchemaT:
    """load_yaml + apply_overrides + validate; errors name the file and overrides."""
    data = apply_overrides(load_yaml(path), overrides)
    source = str(path)
    if overrides:
        source += " with --set " + " ".join(overrides)
    return validate(schema, data, source)


# -------------------------------------------------------------------- writing


def _plain(value: Any) -> Any:
    """Turn a model_dump() tree into types yaml.safe_dump writes and load reads back."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def dump_config(cfg: BaseModel) -> str:
    """YAML text of a config, in field order; `load_config` reads it back equal."""
    data = _plain(cfg.model_dump(mode="python", by_alias=True))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def save_config(cfg: BaseModel, path: str | Path) -> None:
    """Write `dump_config(cfg)` to `path`."""
    Path(path).write_text(dump_config(cfg), encoding="utf-8")
