"""Action schemas: JSON Schema from a function's type hints and docstring, input checks, conversion.

The costly part runs once, when an action is declared: ``signature_for`` resolves the hints,
builds the schema (the draft 2020-12 subset that tool-calling LLM providers accept) and a
converter for each input that needs one (dataclasses, enums, tuples). Per call, ``validate``
walks the schema and ``convert`` applies those converters; plain JSON values pass untouched.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin

from ._context import Context
from ._errors import ActionInputError

__all__ = ["Signature", "convert", "parse_docstring", "schema_for", "signature_for", "validate"]

Schema = dict[str, Any]
Converter = Callable[[Any], Any]
# A parameter or record field: name, annotation, required, default (MISSING: none).
_Field = tuple[str, Any, bool, Any]

_SCALARS: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Signature:
    """What an action function takes, learned once from its hints and docstring.

    ``schema`` describes its inputs; ``summary`` is the docstring's first paragraph;
    ``context`` names the parameter that receives the Context (None: there is none);
    ``converters`` holds one converter per input whose JSON value is not what the function
    expects. Immutable; shared by every call.
    """

    schema: Schema
    summary: str
    context: str | None
    converters: dict[str, Converter]


def schema_for(fn: Callable[..., Any]) -> Schema:
    """The JSON Schema of ``fn``'s inputs (see ``signature_for``)."""
    return signature_for(fn).schema


def signature_for(fn: Callable[..., Any]) -> Signature:
    """Inspects ``fn`` once: its inputs' schema, its summary, converters, its context parameter.

    A first parameter named ``self`` or ``cls`` is skipped, and so is the one named ``ctx`` or
    annotated ``Context`` (it is injected, never an input). Raises TypeError for what an
    action cannot take (``*args``, ``**kwargs``, positional-only parameters, annotations
    without a JSON form), NameError when a hint names something not defined (yet).
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    summary, docs = parse_docstring(inspect.getdoc(fn))
    where = getattr(fn, "__qualname__", repr(fn))
    fields: list[_Field] = []
    context: str | None = None
    for index, param in enumerate(inspect.signature(fn).parameters.values()):
        hint = hints.get(param.name, Any)
        if index == 0 and param.name in ("self", "cls"):
            continue
        if param.name == "ctx" or _is_context(hint):
            context = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(
                f"{where}: parameter {param.name!r}: an action's inputs are named, so it "
                "cannot take *args, **kwargs or positional-only parameters"
            )
        required = param.default is param.empty
        default = dataclasses.MISSING if required else param.default
        fields.append((param.name, hint, required, default))
    schema, converters = _properties(
        fields, set(), docs, lambda name: f"{where}: parameter {name!r}"
    )
    return Signature(schema, summary, context, converters)


def validate(schema: Schema, value: Any, action: str) -> None:
    """Checks ``value`` against ``schema`` (one this module built).

    Raises ActionInputError naming the offending field with a dotted path
    (``order.items.2.qty``): a missing required input, an unknown one, a wrong type (a bool
    is not an integer; an int is a number) or a value outside an enum.
    """
    try:
        _check(schema, value)
    except _Invalid as exc:
        raise ActionInputError(action, ".".join(reversed(exc.path)), exc.problem) from None


def convert(signature: Signature, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Validated ``inputs`` as the keyword arguments the function expects (a new dict)."""
    return _convert_fields(signature.converters, inputs)


# -- schema building ---------------------------------------------------------------------------


def _build(tp: Any, active: set[type]) -> tuple[Schema, Converter | None]:
    """The schema of annotation ``tp`` (a fresh dict), and its converter if inputs need one.

    ``active`` holds the record types being built, to refuse recursive ones.
    """
    if tp is Any:
        return {}, None
    if tp is None:
        tp = type(None)
    if isinstance(tp, type) and tp in _SCALARS:
        return {"type": _SCALARS[tp]}, None
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Required, NotRequired):  # a TypedDict key's qualifier, read by _typeddict
        return _build(args[0], active)
    if origin is Annotated:
        schema, converter = _build(args[0], active)
        text = next((m for m in args[1:] if isinstance(m, str)), None)
        if text is not None:
            schema["description"] = text
        return schema, converter
    if origin is Union or origin is types.UnionType:
        return _union(args, active)
    if origin is Literal:
        if any(isinstance(v, enum.Enum) for v in args):
            raise TypeError("Literal of enum members is not supported; annotate the Enum")
        return _enum(list(args), "Literal"), None
    container = origin or tp
    if container in (list, tuple, Sequence):
        return _array(container, args, active)
    if container in (dict, Mapping):
        return _mapping(args, active)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return _enum([m.value for m in tp], f"enum {tp.__qualname__}"), tp
        if dataclasses.is_dataclass(tp):
            return _dataclass(tp, active)
        if typing.is_typeddict(tp):
            return _typeddict(tp, active)
    raise TypeError(f"unsupported annotation {_describe(tp)}")


def _union(args: tuple[Any, ...], active: set[type]) -> tuple[Schema, Converter | None]:
    branches = [_build(arg, active) for arg in args]
    schema = {"anyOf": [option for option, _ in branches]}
    if all(converter is None for _, converter in branches):
        return schema, None

    def convert_first_match(value: Any) -> Any:
        for option, converter in branches:
            if _conforms(option, value):
                return value if converter is None else converter(value)
        return value

    return schema, convert_first_match


def _array(
    container: Any, args: tuple[Any, ...], active: set[type]
) -> tuple[Schema, Converter | None]:
    if container is tuple and args:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError("fixed-length tuples are not supported; use tuple[T, ...]")
        args = args[:1]
    schema: Schema = {"type": "array"}
    if not args:
        return schema, tuple if container is tuple else None
    schema["items"], item = _build(args[0], active)
    if container is tuple:
        return schema, tuple if item is None else _each(item, tuple)
    return schema, None if item is None else _each(item, list)


def _each(item: Converter, collect: Callable[[Any], Any]) -> Converter:
    return lambda values: collect(map(item, values))


def _each_value(item: Converter) -> Converter:
    return lambda mapping: {key: item(value) for key, value in mapping.items()}


def _mapping(args: tuple[Any, ...], active: set[type]) -> tuple[Schema, Converter | None]:
    if not args:
        return {"type": "object"}, None
    if args[0] is not str:
        raise TypeError("mapping keys must be str (JSON object keys are strings)")
    values, item = _build(args[1], active)
    schema = {"type": "object", "additionalProperties": values}
    return schema, None if item is None else _each_value(item)


def _enum(values: list[Any], what: str) -> Schema:
    kinds = {_json_type(v) for v in values}
    if not kinds <= {"string", "integer", "number", "boolean", "null"}:
        raise TypeError(f"{what} values must be str, int, float, bool or None")
    if len(kinds) == 1:
        return {"type": kinds.pop(), "enum": values}
    return {"enum": values}


def _dataclass(tp: Any, active: set[type]) -> tuple[Schema, Converter]:
    hints = typing.get_type_hints(tp, include_extras=True)
    fields = [
        (f.name, hints[f.name], _no_default(f), f.default)
        for f in dataclasses.fields(tp)
        if f.init
    ]
    schema, converters = _record(tp, fields, active)
    return schema, lambda v: tp(**_convert_fields(converters, v))


def _no_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _typeddict(tp: type, active: set[type]) -> tuple[Schema, Converter | None]:
    required_keys: frozenset[str] = tp.__required_keys__  # type: ignore[attr-defined]
    fields: list[_Field] = []
    for name, hint in typing.get_type_hints(tp, include_extras=True).items():
        # The resolved hint decides when it says (Not)Required: under string annotations
        # __required_keys__ cannot see them (python/cpython#97727).
        qualifier = _qualifier(hint)
        required = qualifier is Required or (qualifier is None and name in required_keys)
        fields.append((name, hint, required, dataclasses.MISSING))
    schema, converters = _record(tp, fields, active)
    if not converters:
        return schema, None
    return schema, lambda v: _convert_fields(converters, v)


def _qualifier(hint: Any) -> Any:
    """``Required`` or ``NotRequired`` when ``hint`` (maybe inside Annotated) is one, else None."""
    while (origin := get_origin(hint)) is Annotated:
        hint = get_args(hint)[0]
    return origin if origin in (Required, NotRequired) else None


def _record(
    tp: type, fields: list[_Field], active: set[type]
) -> tuple[Schema, dict[str, Converter]]:
    """The schema of a dataclass or TypedDict, and its fields' converters."""
    if tp in active:
        raise TypeError(f"recursive type {tp.__qualname__} is not supported")
    active.add(tp)
    try:
        return _properties(fields, active, {}, lambda name: f"{tp.__qualname__}.{name}")
    finally:
        active.discard(tp)


def _properties(
    fields: list[_Field], active: set[type], docs: dict[str, str], label: Callable[[str], str]
) -> tuple[Schema, dict[str, Converter]]:
    """The closed object schema of ``fields``, and their converters; ``label`` names a field
    in errors, ``docs`` describes fields that no ``Annotated`` description did."""
    properties: Schema = {}
    required: list[str] = []
    converters: dict[str, Converter] = {}
    for name, hint, is_required, default in fields:
        try:
            schema, converter = _build(hint, active)
        except TypeError as exc:
            raise TypeError(f"{label(name)}: {exc}") from None
        if name in docs:
            schema.setdefault("description", docs[name])
        if is_required:
            required.append(name)
        elif default is not dataclasses.MISSING:
            _set_default(schema, default)
        properties[name] = schema
        if converter is not None:
            converters[name] = converter
    return _object(properties, required), converters


def _object(properties: Schema, required: list[str]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _set_default(schema: Schema, value: Any) -> None:
    """Records ``value`` as the default when it has a JSON form (an enum member: its value)."""
    if isinstance(value, enum.Enum):
        value = value.value
    try:  # the round trip also copies, so a mutable default is never shared with the schema
        schema["default"] = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        pass


def _is_context(hint: Any) -> bool:
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    if get_origin(hint) in (Union, types.UnionType):
        return [a for a in get_args(hint) if a is not type(None)] == [Context]
    return hint is Context


def _describe(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def _convert_fields(converters: dict[str, Converter], values: Mapping[str, Any]) -> dict[str, Any]:
    if not converters:
        return dict(values)
    return {
        key: value if (converter := converters.get(key)) is None else converter(value)
        for key, value in values.items()
    }


# -- validation --------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value does not conform. ``path`` grows outwards (innermost key first) as it unwinds,
    so a valid input costs no path bookkeeping at all."""

    def __init__(self, problem: str, *path: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = list(path)


def _json_type(value: Any) -> str | None:
    """The JSON type of a Python value (None: it has none). bool before int: True is an int."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return None


def _type_ok(expected: str, kind: str | None) -> bool:
    return kind == expected or (expected == "number" and kind == "integer")


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's, True is not 1."""
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def _check(schema: Schema, value: Any) -> None:
    options = schema.get("anyOf")
    if options is not None:
        _check_any(options, value)
        return
    expected = schema.get("type")
    kind = _json_type(value)
    if expected is not None and not _type_ok(expected, kind):
        raise _Invalid(f"expected {expected}, got {kind or type(value).__qualname__}")
    allowed = schema.get("enum")
    if allowed is not None and not any(_same(value, a) for a in allowed):
        raise _Invalid(f"must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    if expected == "array" and "items" in schema:
        for index, item in enumerate(value):
            _check_at(str(index), schema["items"], item)
    elif expected == "object":
        _check_object(schema, value)


def _check_at(key: str, schema: Schema, value: Any) -> None:
    try:
        _check(schema, value)
    except _Invalid as exc:
        exc.path.append(key)
        raise


def _check_object(schema: Schema, value: Mapping[Any, Any]) -> None:
    properties: Schema = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Invalid(f"keys must be strings; got {key!r}")
        option = properties.get(key)
        if option is None:
            if extra is False:
                known = ", ".join(properties) or "nothing"
                raise _Invalid(f"unknown; expected one of: {known}", key)
            if extra is True:
                continue
            option = extra
        _check_at(key, option, item)
    for key in schema.get("required", ()):
        if key not in value:
            raise _Invalid("is required", key)


def _check_any(options: list[Schema], value: Any) -> None:
    failures: list[tuple[Schema, _Invalid]] = []
    for option in options:
        try:
            _check(option, value)
            return
        except _Invalid as exc:
            failures.append((option, exc))
    # When one option has the value's type, its complaint is the precise one (a nested field).
    kind = _json_type(value)
    typed = [exc for option, exc in failures if _type_ok(option.get("type", ""), kind)]
    if len(typed) == 1:
        raise typed[0]
    raise _Invalid(
        f"expected {' or '.join(map(_label, options))}, got {kind or type(value).__qualname__}"
    )


def _label(option: Schema) -> str:
    if "type" in option:
        return str(option["type"])
    if "enum" in option:
        return "one of " + ", ".join(map(repr, option["enum"]))
    return "a value"


def _conforms(schema: Schema, value: Any) -> bool:
    try:
        _check(schema, value)
    except _Invalid:
        return False
    return True


# -- docstrings --------------------------------------------------------------------------------

_GOOGLE_HEADERS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
# "name (type): text" or "name: text"; the type may hold parentheses of its own.
_GOOGLE_ENTRY = re.compile(r"\**(\w+)\s*(?:\(.*?\))?\s*:\s*(.*)")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary (first paragraph, one line) and the parameter descriptions of ``doc``.

    Reads Google style (an ``Args:`` section of ``name (type): text`` or ``name: text``
    entries) and NumPy style (a ``Parameters`` section underlined with dashes, of
    ``name : type`` lines followed by indented text). Continuation lines are joined.
    """
    if not doc:
        return "", {}
    lines = doc.expandtabs().splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip():
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    index = 0
    while index < len(lines):
        text, indent = lines[index].strip(), _indent(lines[index])
        if text == "Parameters" and _is_rule(lines, index + 1):
            index = _section(lines, index + 2, indent, True, params)
        elif text.endswith(":") and text[:-1].lower() in _GOOGLE_HEADERS:
            index = _section(lines, index + 1, indent, False, params)
        else:
            index += 1
    return " ".join(summary), params


def _section(lines: list[str], index: int, header: int, numpy: bool, out: dict[str, str]) -> int:
    """Reads one parameter section from ``index``; returns where it ends.

    NumPy entries sit at the header's indent (the next underlined title ends the section),
    Google entries one level deeper (a line back at the header's indent ends it).
    """
    entry = header if numpy else None
    names: list[str] = []
    parts: list[str] = []
    while index < len(lines):
        line = lines[index]
        text, indent = line.strip(), _indent(line)
        if text:
            if indent < header or (indent == header and (not numpy or _is_rule(lines, index + 1))):
                break
            if entry is None:
                entry = indent
            if indent <= entry:
                _flush(out, names, parts)
                names, parts = _entry(text, numpy)
            else:
                parts.append(text)
        index += 1
    _flush(out, names, parts)
    return index


def _entry(text: str, numpy: bool) -> tuple[list[str], list[str]]:
    """The names an entry line documents and the start of their description."""
    if numpy:  # "name : type", or "x, y : type" for several
        return [n.strip().lstrip("*") for n in text.split(":", 1)[0].split(",")], []
    match = _GOOGLE_ENTRY.fullmatch(text)
    return ([match[1]], [match[2]]) if match is not None else ([], [])


def _flush(out: dict[str, str], names: list[str], parts: list[str]) -> None:
    text = " ".join(p for p in parts if p)
    for name in names:
        if name and text:
            out[name] = text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_rule(lines: list[str], index: int) -> bool:
    return index < len(lines) and set(lines[index].strip()) == {"-"}
