"""Action schemas: JSON Schema from type hints and docstrings, input validation, conversion."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, NotRequired, Optional, Required, TypedDict, Union

import pytest

from serendip import ActionInputError, Context
from serendip._schema import convert, parse_docstring, schema_for, signature_for, validate


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


@dataclasses.dataclass
class Item:
    sku: str
    qty: int = 1


@dataclasses.dataclass
class Order:
    items: list[Item]
    color: Color = Color.RED
    note: Annotated[str, "for the courier"] = ""
    tags: list[str] = dataclasses.field(default_factory=list)


class Address(TypedDict):
    street: str
    floor: NotRequired[int]


class Options(TypedDict, total=False):
    color: Color
    name: Required[str]
    size: Annotated[NotRequired[Size], "how big"]


@dataclasses.dataclass
class Node:
    children: list[Node]


def input_schema(annotation: Any) -> dict[str, Any]:
    """The schema of a lone required input annotated ``annotation``."""

    def fn(x):  # type: ignore[no-untyped-def]
        pass

    fn.__annotations__ = {"x": annotation}
    schema = schema_for(fn)
    assert schema["required"] == ["x"]
    return schema["properties"]["x"]  # type: ignore[no-any-return]


def invalid(schema_of: Callable[..., Any], inputs: Any) -> ActionInputError:
    """The error validating ``inputs`` against ``schema_of``'s schema raises."""
    with pytest.raises(ActionInputError) as caught:
        validate(schema_for(schema_of), inputs, "act")
    return caught.value


# -- the mapping from type hints ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (Any, {}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (str | None, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (tuple[float, ...], {"type": "array", "items": {"type": "number"}}),
        (list, {"type": "array"}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (dict, {"type": "object"}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
        (Literal["a", 1], {"enum": ["a", 1]}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (Size, {"type": "integer", "enum": [1, 2]}),
        (Annotated[int, "how many"], {"type": "integer", "description": "how many"}),
        (
            list[Annotated[int, "one"]],
            {"type": "array", "items": {"type": "integer", "description": "one"}},
        ),
    ],
)
def test_each_supported_annotation_maps_to_its_json_schema(
    annotation: Any, expected: dict[str, Any]
) -> None:
    assert input_schema(annotation) == expected


def test_a_dataclass_is_a_closed_object_whose_fields_without_defaults_are_required() -> None:
    assert input_schema(Order) == {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "qty": {"type": "integer", "default": 1},
                    },
                    "required": ["sku"],
                    "additionalProperties": False,
                },
            },
            "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
            "note": {"type": "string", "description": "for the courier", "default": ""},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["items"],
        "additionalProperties": False,
    }


def test_a_typed_dict_takes_its_required_keys_from_totality_and_not_required() -> None:
    assert input_schema(Address) == {
        "type": "object",
        "properties": {"street": {"type": "string"}, "floor": {"type": "integer"}},
        "required": ["street"],
        "additionalProperties": False,
    }
    options = input_schema(Options)
    assert options["required"] == ["name"]
    size = {"type": "integer", "enum": [1, 2], "description": "how big"}
    assert options["properties"]["size"] == size


def test_a_function_schema_is_a_closed_object_of_its_parameters_with_their_defaults() -> None:
    def search(
        query: str,
        limit: int = 10,
        exact: bool = False,
        color: Color = Color.BLUE,
        fields: tuple[str, ...] = ("a", "b"),
    ) -> None:
        pass

    assert schema_for(search) == {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer", "default": 10},
            "exact": {"type": "boolean", "default": False},
            "color": {"type": "string", "enum": ["red", "blue"], "default": "blue"},
            "fields": {"type": "array", "items": {"type": "string"}, "default": ["a", "b"]},
        },
        "required": ["query"],
        "additionalProperties": False,
    }


def test_an_unannotated_parameter_accepts_any_value_and_none_default_is_recorded() -> None:
    def fn(anything, maybe: int | None = None):  # type: ignore[no-untyped-def]
        pass

    schema = schema_for(fn)
    assert schema["properties"]["anything"] == {}
    assert schema["properties"]["maybe"]["default"] is None
    assert schema["required"] == ["anything"]


def test_a_default_without_a_json_form_is_left_out() -> None:
    marker = object()

    def fn(when: Any = marker, where: list[int] = [1, 2]) -> None:  # noqa: B006
        pass

    properties = schema_for(fn)["properties"]
    assert properties["when"] == {}
    assert properties["where"]["default"] == [1, 2]


def test_self_and_the_injected_context_never_appear_in_the_schema() -> None:
    class Holder:
        def method(self, ctx, text: str) -> None:  # type: ignore[no-untyped-def]
            pass

    def annotated(text: str, context: Context) -> None:
        pass

    def optional(text: str, context: Context | None = None) -> None:
        pass

    for fn in (Holder.method, annotated, optional):
        signature = signature_for(fn)
        assert list(signature.schema["properties"]) == ["text"]
        assert signature.context == ("ctx" if fn is Holder.method else "context")


def test_a_function_without_a_context_parameter_has_none() -> None:
    def fn(text: str) -> None:
        pass

    assert signature_for(fn).context is None


@pytest.mark.parametrize(
    ("annotation", "problem"),
    [
        (set[int], "unsupported annotation set[int]"),
        (object, "unsupported annotation object"),
        (dict[int, str], "mapping keys must be str"),
        (tuple[int, str], "fixed-length tuples are not supported"),
        (Node, "recursive type Node is not supported"),
    ],
)
def test_an_annotation_without_a_json_form_is_a_type_error_naming_the_parameter(
    annotation: Any, problem: str
) -> None:
    def fn(x):  # type: ignore[no-untyped-def]
        pass

    fn.__annotations__ = {"x": annotation}
    with pytest.raises(TypeError, match="parameter 'x'") as caught:
        schema_for(fn)
    assert problem in str(caught.value)


def test_an_unsupported_nested_field_is_named_with_its_type() -> None:
    @dataclasses.dataclass
    class Bad:
        ok: int
        wrong: set[int]

    def fn(bad: Bad) -> None:
        pass

    fn.__annotations__ = {"bad": Bad}  # a local class: give the hint as the object itself
    with pytest.raises(TypeError, match=r"parameter 'bad': .*Bad\.wrong: unsupported annotation"):
        schema_for(fn)


@pytest.mark.parametrize("kind", ["args", "kwargs", "positional-only"])
def test_star_args_kwargs_and_positional_only_parameters_are_refused(kind: str) -> None:
    def star(*values: int) -> None:
        pass

    def double_star(**values: int) -> None:
        pass

    def positional(value: int, /) -> None:
        pass

    fn = {"args": star, "kwargs": double_star, "positional-only": positional}[kind]
    with pytest.raises(TypeError, match="parameter 'value.*cannot take"):
        schema_for(fn)


# -- docstrings ---------------------------------------------------------------------------------


def test_google_style_docstrings_give_the_summary_and_parameter_descriptions() -> None:
    def fn(city: str, days: int = 3, *, units: str = "metric") -> None:
        """Forecasts the weather
        for a city.

        Longer text that is not part of the summary.

        Args:
            city (str): the city's name,
                as people write it.
            days: how many days
            units (Literal["metric", "imperial"]): unit system.

        Returns:
            nothing: this line is not a parameter.
        """

    signature = signature_for(fn)
    assert signature.summary == "Forecasts the weather for a city."
    properties = signature.schema["properties"]
    assert properties["city"]["description"] == "the city's name, as people write it."
    assert properties["days"]["description"] == "how many days"
    assert properties["units"]["description"] == "unit system."
    assert "nothing" not in properties


def test_numpy_style_docstrings_give_the_parameter_descriptions() -> None:
    def fn(city: str, days: int = 3, hours: int = 0) -> None:
        """Forecasts the weather.

        Parameters
        ----------
        city : str
            The city's name,
            as people write it.
        days, hours : int
            How far ahead.

        Returns
        -------
        str
            Not a parameter.
        """

    signature = signature_for(fn)
    assert signature.summary == "Forecasts the weather."
    properties = signature.schema["properties"]
    assert properties["city"]["description"] == "The city's name, as people write it."
    assert properties["days"]["description"] == "How far ahead."
    assert properties["hours"]["description"] == "How far ahead."


def test_an_annotated_description_wins_over_the_docstring() -> None:
    def fn(city: Annotated[str, "from Annotated"]) -> None:
        """Summary.

        Args:
            city: from the docstring.
        """

    assert schema_for(fn)["properties"]["city"]["description"] == "from Annotated"


def test_parse_docstring_of_nothing_is_empty() -> None:
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("Just a summary.") == ("Just a summary.", {})


# -- validation ---------------------------------------------------------------------------------


def place(
    order: Order,
    express: bool = False,
    weight: float = 1.0,
    size: Size = Size.SMALL,
    extras: dict[str, Item] | None = None,
    mode: Literal["air", "sea"] = "sea",
) -> None:
    """An action with nested inputs, for the validation tests."""


@pytest.mark.parametrize(
    ("inputs", "field", "problem"),
    [
        ({}, "order", "is required"),
        ({"order": {}}, "order.items", "is required"),
        ({"order": {"items": []}, "speed": 1}, "speed", "unknown; expected one of: order, express"),
        ({"order": {"items": [], "colour": "red"}}, "order.colour", "unknown"),
        ({"order": {"items": [{"sku": "a"}, {"sku": "b"}, {"sku": "c", "qty": "2"}]}},
         "order.items.2.qty", "expected integer, got string"),
        ({"order": {"items": [{"sku": "a", "qty": 1.5}]}}, "order.items.0.qty",
         "expected integer, got number"),
        ({"order": {"items": [{"sku": "a", "qty": True}]}}, "order.items.0.qty",
         "expected integer, got boolean"),
        ({"order": {"items": []}, "weight": True}, "weight", "expected number, got boolean"),
        ({"order": {"items": []}, "express": 1}, "express", "expected boolean, got integer"),
        ({"order": {"items": "abc"}}, "order.items", "expected array, got string"),
        ({"order": {"items": [], "color": "green"}}, "order.color",
         "must be one of 'red', 'blue'; got 'green'"),
        ({"order": {"items": []}, "size": 3}, "size", "must be one of 1, 2; got 3"),
        ({"order": {"items": []}, "size": True}, "size", "expected integer, got boolean"),
        ({"order": {"items": []}, "mode": "rail"}, "mode", "must be one of 'air', 'sea'"),
        ({"order": {"items": []}, "extras": {"gift": {"qty": 1}}}, "extras.gift.sku",
         "is required"),
        ({"order": {"items": []}, "extras": 5}, "extras", "expected object or null, got integer"),
        ({"order": {"items": [], "tags": [object()]}}, "order.tags.0",
         "expected string, got object"),
        ({"order": {"items": [], 1: 2}}, "order", "keys must be strings"),
        (["order"], "", "expected object, got array"),
    ],
)
def test_invalid_inputs_raise_an_error_naming_the_field(
    inputs: Any, field: str, problem: str
) -> None:
    error = invalid(place, inputs)
    assert error.action == "act"
    assert error.field == field
    assert problem in error.problem
    assert isinstance(error, ValueError)


def test_the_error_message_names_the_action_and_the_dotted_field() -> None:
    error = invalid(place, {"order": {"items": [{"sku": 1}]}})
    assert str(error) == "action 'act': input 'order.items.0.sku': expected string, got integer"


@pytest.mark.parametrize(
    "inputs",
    [
        {"order": {"items": []}},
        {"order": {"items": [{"sku": "a", "qty": 2}], "color": "blue", "tags": ["x"]},
         "express": True, "weight": 2, "size": 2, "extras": None, "mode": "air"},
        {"order": {"items": ()}, "extras": {"gift": {"sku": "g"}}, "weight": 0.5},
    ],
)
def test_valid_inputs_pass_and_an_int_is_a_number(inputs: dict[str, Any]) -> None:
    validate(schema_for(place), inputs, "act")


# -- conversion ---------------------------------------------------------------------------------


def test_conversion_builds_dataclasses_and_enum_members_recursively() -> None:
    signature = signature_for(place)
    inputs = {
        "order": {"items": [{"sku": "a"}, {"sku": "b", "qty": 3}], "color": "blue"},
        "size": 2,
        "extras": {"gift": {"sku": "g"}},
    }
    kwargs = convert(signature, inputs)
    assert kwargs == {
        "order": Order([Item("a"), Item("b", 3)], Color.BLUE),
        "size": Size.LARGE,
        "extras": {"gift": Item("g")},
    }
    assert kwargs["order"].color is Color.BLUE
    assert inputs["order"]["color"] == "blue", "the caller's inputs are left as they were"


def test_conversion_turns_lists_into_tuples_and_keeps_optional_none() -> None:
    def fn(names: tuple[str, ...], colors: tuple[Color, ...], item: Item | None = None) -> None:
        pass

    signature = signature_for(fn)
    kwargs = convert(signature, {"names": ["a", "b"], "colors": ["red"], "item": None})
    assert kwargs == {"names": ("a", "b"), "colors": (Color.RED,), "item": None}
    kwargs = convert(signature, {"names": [], "colors": [], "item": {"sku": "s"}})
    assert kwargs["item"] == Item("s")


def test_a_typed_dict_stays_a_dict_with_its_values_converted() -> None:
    def fn(options: Options) -> None:
        pass

    kwargs = convert(signature_for(fn), {"options": {"name": "n", "color": "red", "size": 1}})
    assert kwargs == {"options": {"name": "n", "color": Color.RED, "size": Size.SMALL}}


def test_plain_json_inputs_pass_unconverted() -> None:
    def fn(text: str, counts: dict[str, int], address: Address) -> None:
        pass

    signature = signature_for(fn)
    assert signature.converters == {}
    inputs = {"text": "t", "counts": {"a": 1}, "address": {"street": "Main"}}
    assert convert(signature, inputs) == inputs
