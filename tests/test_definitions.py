"""One definition per argument: each component's Spec is the source, and its Args TypedDict, the provider schema and the
stack keys are held to it here, field by field.

The rules the checkers apply:
- names: every Args field is a Spec field and the other way round (ARGS_ONLY lists the exceptions, with why);
- types: the Args annotation and the Spec field's annotation have the same schema kind (a Literal is a string whose
  values the Args doc names; Optional and pulumi.Input are unwrapped), and the same field is required in both;
- defaults: a Spec default that is a value (not None, an empty list or a nested model) is stated in the Args doc as
  `default X` or `X (default`, and equal to it; a default None means "unset", and the doc (or its class's) says what
  that means in words (UNSET). Args shared by components with different defaults (SHARED_ARGS) state none of their
  own: the field holding them states every value of its default instead;
- docs: every Args field has a docstring, and the schema's description of it is that docstring;
- stack keys: every target names a Spec field, the key's Pulumi type fits the field's kind, and its default is the
  Spec's (the stack writes unset as '' and a number as text); STACK_OVERRIDES lists where the stack differs, with why.
"""

import ast
import inspect
import json
import re
import types
import typing
from collections.abc import Awaitable
from typing import Any, Literal, NotRequired, TypedDict, Union

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from components.args import ResourcesArgs
from components.config import Model, ResourcesSpec
from components.image.component import GoImageArgs
from components.image.config import ImageSpec
from components.k8s import exemptions
from components.logging.component import LoggingPipelineArgs
from components.logging.config import LoggingSpec
from components.observability.component import PrometheusStackArgs, ServiceMonitoringArgs
from components.observability.config import PrometheusStackSpec, ServiceMonitoringSpec
from components.service.component import GoServiceArgs
from components.service.config import ServiceSpec
from policies import rules
from stacks import config as stack_config
from stacks.config import KEYS, ConfigKey, StackConfig
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "provider" / "schema.json").read_text())
COMPONENTS = [
    ("GoImage", GoImageArgs, ImageSpec),
    ("GoService", GoServiceArgs, ServiceSpec),
    ("PrometheusStack", PrometheusStackArgs, PrometheusStackSpec),
    ("ServiceMonitoring", ServiceMonitoringArgs, ServiceMonitoringSpec),
    ("LoggingPipeline", LoggingPipelineArgs, LoggingSpec),
]
ARGS_ONLY = {
    # GoService takes the image apart from its Spec: it may be an Output (GoImage's digest reference) that the
    # component passes to the Deployment as it is, checked once known.
    ("GoServiceArgs", "image"),
}
REQUIRED_DIFFERS = {
    # Optional in the args because GoService fills in its own component name before validating.
    ("GoServiceArgs", "service_name"),
}
SHARED_ARGS = (ResourcesArgs,)
"""Args several components take with different defaults: the holding field's doc states its default instance's values."""
STACK_OVERRIDES = {
    # The program owns the namespace it deploys into, so the stack creates it; a GoService on its own deploys into a
    # namespace that exists.
    "createNamespace",
}
SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}
STACK_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "number": "string", ("array", "string"): "array"}
"""The Pulumi config type of each schema kind (project config has no number type: a number is its text)."""


# -- the checkers ---------------------------------------------------------------------------------------------------


def kind(annotation: Any) -> Any:
    """The schema kind of an annotation: 'string', 'integer', 'number', 'boolean', ('array', kind), ('map', kind), or the
    TypedDict or model class of a nested object. NotRequired, Optional, pulumi.Input and a Spec's validated types
    (Annotated) are unwrapped."""
    origin, params = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (NotRequired, typing.Required, typing.Annotated):
        return kind(params[0])
    if origin in (Union, types.UnionType):
        real = [p for p in params if p is not type(None) and typing.get_origin(p) is not Awaitable and not isinstance(p, typing.ForwardRef)]
        if len(real) != 1:
            raise TypeError(f"{annotation} is a union of several kinds")
        return kind(real[0])
    if origin is Literal:
        if not all(isinstance(p, str) for p in params):
            raise TypeError(f"{annotation}: only string literals have a schema kind")
        return "string"
    if origin is list:
        return ("array", kind(params[0]))
    if origin is dict:
        if params[0] is not str:
            raise TypeError(f"{annotation}: map keys are strings")
        return ("map", kind(params[1]))
    if annotation in SCALARS:
        return SCALARS[annotation]
    if typing.is_typeddict(annotation) or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return annotation
    raise TypeError(f"{annotation} has no schema kind")


def literals(annotation: Any) -> tuple[str, ...]:
    """The values of the Literal inside an annotation (through Optional and list), or none."""
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return tuple(v for p in typing.get_args(annotation) for v in literals(p))


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each annotated field of a class, read from its source as Pulumi's analyzer reads it."""
    body = ast.parse(inspect.getsource(cls)).body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr):
            if isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
                docs[node.target.id] = following.value.value
    return docs


DEFAULT_AFTER = re.compile(r"\bdefault\s+(?P<value>'[^']*'|[^\s,;)]+)", re.IGNORECASE)
DEFAULT_BEFORE = re.compile(r"(?P<value>'[^']*'|[\w./-]+) \(default[),:]")


UNSET = re.compile(r"\b(unset|default|none)\b", re.IGNORECASE)
"""Words by which a doc (or its class's doc) says what an unset field means."""


def stated_default(doc: str) -> str | None:
    """The default a doc states, as `default X` or `X (default...)`, quotes removed; None when it states none."""
    match = DEFAULT_BEFORE.search(doc) or DEFAULT_AFTER.search(doc)
    if match is None:
        return None
    value = match["value"]
    return value[1:-1] if value.startswith("'") else value.rstrip(".:")


def same_value(text: str, value: Any) -> bool:
    """Whether a doc's stated default `text` is `value`."""
    if isinstance(value, bool):
        return text == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(text) == value and (isinstance(value, float) or text.isdigit())
        except ValueError:
            return False
    return text == value


def mentions(doc: str, value: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", doc) is not None


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def schema_kind(prop: dict) -> str:
    return "object" if "$ref" in prop else prop["type"]


def differences(args: type, spec: type[BaseModel], properties: dict[str, dict], types_: dict[str, dict], path: str, default: BaseModel | None = None) -> list[str]:
    """Every way `args` (a TypedDict) and `spec` (a model) disagree, recursively; `properties` is the schema's
    properties of `args`, `types_` the schema's types for nested args, `default` the instance whose values are the
    defaults here when the parent gives one."""
    problems: list[str] = []
    hints = args.__annotations__
    docs = field_docs(args)
    for name in sorted(set(hints) - set(spec.model_fields)):
        if (args.__name__, name) not in ARGS_ONLY:
            problems.append(f"{path}.{name}: in {args.__name__} but not a field of {spec.__name__}")
    for name in sorted(set(spec.model_fields) - set(hints)):
        problems.append(f"{path}.{name}: a field of {spec.__name__} but not in {args.__name__}")
    for name in hints:
        where, doc, prop = f"{path}.{name}", docs.get(name), properties.get(camel(name))
        problems += doc_differences(where, doc, prop, args.__name__)
        if name in spec.model_fields:
            value = spec.model_fields[name].default if default is None else getattr(default, name)
            problems += field_differences(args, spec, name, (doc or "").strip(), prop, value, types_, where)
    return problems


def doc_differences(where: str, doc: str | None, prop: dict | None, args_name: str) -> list[str]:
    """An Args field's docstring against the schema's description of it."""
    problems = [] if doc and doc.strip() else [f"{where}: no docstring in {args_name}"]
    if prop is None:
        problems.append(f"{where}: not in the schema")
    elif prop.get("description") != doc:
        problems.append(f"{where}: the schema's description {prop.get('description')!r} is not the docstring {doc!r}")
    return problems


def field_differences(args: type, spec: type[BaseModel], name: str, doc: str, prop: dict | None, value: Any, types_: dict[str, dict], where: str) -> list[str]:
    """One field present in both: required-ness, allowed values, kind (recursing into nested objects) and default."""
    problems: list[str] = []
    field = spec.model_fields[name]
    arg_kind, spec_kind = kind(args.__annotations__[name]), kind(field.annotation)
    if (name in args.__required_keys__) != field.is_required() and (args.__name__, name) not in REQUIRED_DIFFERS:
        problems.append(f"{where}: required in {'the args' if name in args.__required_keys__ else 'the spec'} only")
    for allowed in literals(field.annotation):
        if not mentions(doc, allowed):
            problems.append(f"{where}: the doc does not name the allowed value {allowed!r}")
    if isinstance(arg_kind, tuple) and isinstance(spec_kind, tuple) and arg_kind[0] == spec_kind[0] and isinstance(arg_kind[1], type):
        arg_kind, spec_kind, value = arg_kind[1], spec_kind[1], None  # a list of objects: each item's defaults are its class's
    if isinstance(arg_kind, type) and isinstance(spec_kind, type) and typing.is_typeddict(arg_kind) and issubclass(spec_kind, BaseModel):
        instance = value if isinstance(value, BaseModel) else None
        nested = types_.get(f"gosvc:index:{arg_kind.__name__}", {}).get("properties", {})
        problems += differences(arg_kind, spec_kind, nested, types_, where, instance)
        if arg_kind in SHARED_ARGS and instance is not None:
            for part, part_value in instance:
                if part_value is not None and not mentions(doc, str(part_value)):
                    problems.append(f"{where}: the doc does not state the default {part} {part_value!r}")
        return problems
    if arg_kind != spec_kind:
        return problems + [f"{where}: {args.__name__} says {arg_kind}, {spec.__name__} says {spec_kind}"]
    if prop is not None and schema_kind(prop) != (arg_kind if isinstance(arg_kind, str) else arg_kind[0].replace("map", "object")):
        problems.append(f"{where}: the schema says {schema_kind(prop)}, the args {arg_kind}")
    if args not in SHARED_ARGS:
        problems += default_differences(where, doc, value, args.__doc__ or "")
    return problems


def default_differences(where: str, doc: str, value: Any, class_doc: str) -> list[str]:
    """The doc against a Spec default, by the rules in the module docstring."""
    if value is PydanticUndefined or value == [] or value == {}:
        return []  # required (no default to state) or empty
    if value is None:
        if UNSET.search(doc) or UNSET.search(class_doc):
            return []
        return [f"{where}: the doc does not say what leaving it unset means"]
    stated = stated_default(doc)
    if stated is None:
        return [f"{where}: the default {value!r} is not stated in the doc (write 'default {value}')"]
    if not same_value(stated, value):
        return [f"{where}: the doc states the default {stated!r}, the spec has {value!r}"]
    return []


def key_differences(keys: tuple[ConfigKey, ...], sections: dict[str, Any]) -> list[str]:
    """Every way the stack keys disagree with the models of `sections` (section name -> model, or a plain type)."""
    problems = []
    for key in keys:
        model = sections.get(key.target[0])
        if model is None:
            problems.append(f"{key.full_name}: no section {key.target[0]!r}")
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            # A section that is a single value (the prebuilt image reference): its one key is a string.
            if key.type != STACK_TYPES[kind(model)] or len(key.target) != 2:
                problems.append(f"{key.full_name}: the section {key.target[0]} is one {kind(model)}, not a {key.type}")
            continue
        cls: Any = model
        value: Any = None
        field = None
        for depth, part in enumerate(key.target[1:]):
            if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
                problems.append(f"{key.full_name}: {'.'.join(key.target)} is not a field of {model.__name__}")
                field = None
                break
            field = cls.model_fields[part]
            value = field.default if depth == 0 else getattr(value, part)
            cls = kind(field.annotation)
        if field is None:
            continue
        field_kind = kind(field.annotation)
        if STACK_TYPES.get(field_kind if isinstance(field_kind, (str, type)) else (field_kind[0], kind_name(field_kind[1]))) != key.type:
            problems.append(f"{key.full_name}: a {key.type} key for a {kind_name(field_kind)} field")
            continue
        if value is PydanticUndefined or key.name in STACK_OVERRIDES:
            continue  # the spec has no default: the stack gives one
        stack_value = key.default
        if key.type == "string":
            stack_value = key.default or None
            if field_kind == "number" and stack_value is not None:
                stack_value = float(stack_value)
        if stack_value != value or type(stack_value) is not type(value):
            problems.append(f"{key.full_name}: the stack default {key.default!r} is not the spec's {value!r}")
        stated = stated_default(key.description)
        if stated is not None and value not in (None, [], {}) and not same_value(stated, value):
            problems.append(f"{key.full_name}: the description states the default {stated!r}, the spec has {value!r}")
    return problems


def kind_name(k: Any) -> Any:
    return k if isinstance(k, (str, tuple)) else "object"


def stack_sections() -> dict[str, Any]:
    """Each StackConfig section's type, Optional removed: the models the stack keys land on."""
    hints = typing.get_type_hints(StackConfig, vars(stack_config))
    return {name: next(p for p in (typing.get_args(t) or (t,)) if p is not type(None)) for name, t in hints.items()}


# -- the real definitions agree ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("component, args, spec", COMPONENTS, ids=[c[0] for c in COMPONENTS])
def test_args_schema_and_spec_agree(component, args, spec):
    properties = SCHEMA["resources"][f"gosvc:index:{component}"]["inputProperties"]
    assert differences(args, spec, properties, SCHEMA["types"], component) == []


def test_stack_keys_land_on_spec_fields_with_the_specs_defaults():
    assert key_differences(KEYS, stack_sections()) == []


def test_the_stack_reads_the_same_models_it_validates_with():
    """stacks.config fills each key marked SPEC from SECTION_MODELS: they are the models StackConfig holds."""
    sections = stack_sections()
    assert {name: sections[name] for name in stack_config.SECTION_MODELS} == stack_config.SECTION_MODELS
    assert set(sections) - set(stack_config.SECTION_MODELS) == {"prebuilt_image"}


def test_the_allow_lists_are_still_needed():
    """An exception whose difference is gone must leave its list, so the lists stay short and true."""
    for args_name, name in ARGS_ONLY:
        args, spec = next((a, s) for _, a, s in COMPONENTS if a.__name__ == args_name)
        assert name in args.__annotations__ and name not in spec.model_fields
    for args_name, name in REQUIRED_DIFFERS:
        args, spec = next((a, s) for _, a, s in COMPONENTS if a.__name__ == args_name)
        assert (name in args.__required_keys__) != spec.model_fields[name].is_required()
    for name in STACK_OVERRIDES:
        key = stack_config.KEYS_BY_NAME[name]
        assert key.default != stack_config.spec_default(key.target), f"{name} is no longer an override"


def test_the_library_and_the_pack_share_one_exemption_prefix():
    """One definition: the pack takes the prefix from the library's standard-library-only module the components use."""
    assert rules.EXEMPT_PREFIX is exemptions.EXEMPT_PREFIX
    assert exemptions.exemptions({"no-host-path": "reads node logs"}) == {f"{rules.EXEMPT_PREFIX}no-host-path": "reads node logs"}


# -- each checker can fail ------------------------------------------------------------------------------------------


class TinyArgs(TypedDict):
    """A tiny args type that disagrees with TinySpec in every way the checker looks at."""

    size: NotRequired[int]
    """Size, default 3."""
    ratio: NotRequired[float]
    """Ratio."""
    mode: NotRequired[str]
    """'fast' (default) or 'slow'."""
    label: NotRequired[str]
    only_in_args: NotRequired[bool]
    """Not in the spec."""


class TinySpec(Model):
    size: int = 4
    ratio: int = 1
    mode: Literal["fast", "slow", "careful"] = "fast"
    label: str | None = None
    only_in_spec: str = "x"


TINY_PROPERTIES = {
    "size": {"type": "integer", "description": "Size, default 3."},
    "ratio": {"type": "number", "description": "Ratio, stale."},
    "mode": {"type": "string", "description": "'fast' (default) or 'slow'."},
    "label": {"type": "string"},
    "onlyInArgs": {"type": "boolean", "description": "Not in the spec."},
}


def test_the_checker_reports_names_types_defaults_and_docs_that_disagree():
    problems = differences(TinyArgs, TinySpec, TINY_PROPERTIES, {}, "Tiny")
    assert problems == [
        "Tiny.only_in_args: in TinyArgs but not a field of TinySpec",
        "Tiny.only_in_spec: a field of TinySpec but not in TinyArgs",
        "Tiny.size: the doc states the default '3', the spec has 4",
        "Tiny.ratio: the schema's description 'Ratio, stale.' is not the docstring 'Ratio.'",
        "Tiny.ratio: TinyArgs says number, TinySpec says integer",
        "Tiny.mode: the doc does not name the allowed value 'careful'",
        "Tiny.label: no docstring in TinyArgs",
        "Tiny.label: the doc does not say what leaving it unset means",
    ]


class TinyHolderArgs(TypedDict):
    resources: NotRequired[ResourcesArgs]
    """Default 250m CPU."""
    count: NotRequired[int]
    """How many."""


class TinyHolderSpec(Model):
    resources: ResourcesSpec = ResourcesSpec(cpu_request="250m", memory_request="3Gi")
    count: int = 2


def test_the_checker_reports_an_unstated_default_and_a_shared_default_left_out_of_the_doc():
    docs_of_resources = {camel(n): {"type": "string", "description": d} for n, d in field_docs(ResourcesArgs).items()}
    properties = {"resources": {"$ref": "#/types/gosvc:index:ResourcesArgs", "description": "Default 250m CPU."}, "count": {"type": "integer", "description": "How many."}}
    problems = differences(TinyHolderArgs, TinyHolderSpec, properties, {"gosvc:index:ResourcesArgs": {"properties": docs_of_resources}}, "Holder")
    assert problems == [
        "Holder.resources: the doc does not state the default cpu_limit '1'",
        "Holder.resources: the doc does not state the default memory_request '3Gi'",
        "Holder.count: the default 2 is not stated in the doc (write 'default 2')",
    ]


def test_the_checker_reports_stack_keys_that_miss_or_contradict_their_field():
    sections = stack_sections()
    keys = (
        ConfigKey("replicas", "integer", 3, "Replicas.", ("service", "replicas")),
        ConfigKey("hpaEnabled", "string", "", "HPA.", ("service", "autoscaling", "enabled")),
        ConfigKey("ghost", "string", "", "Nothing.", ("service", "autoscaling", "ghost")),
        ConfigKey("alertErrorRatio", "string", "0.1", "Ratio.", ("monitoring", "service", "alerts", "error_ratio")),
        ConfigKey("scrapeTimeout", "string", "10s", "Timeout, default '20s'.", ("monitoring", "service", "scrape_timeout")),
        ConfigKey("loggingStorageClass", "string", "fast", "Class.", ("logging", "storage_class")),
    )
    assert key_differences(keys, sections) == [
        "gosvc:replicas: the stack default 3 is not the spec's 2",
        "gosvc:hpaEnabled: a string key for a boolean field",
        "gosvc:ghost: service.autoscaling.ghost is not a field of ServiceSpec",
        "gosvc:alertErrorRatio: the stack default '0.1' is not the spec's 0.05",
        "gosvc:scrapeTimeout: the description states the default '20s', the spec has '10s'",
        "gosvc:loggingStorageClass: the stack default 'fast' is not the spec's None",
    ]


def test_stated_defaults_are_read_in_both_forms():
    assert stated_default("Replicas, default 2.") == "2"
    assert stated_default("Namespace, default 'gosvc'; never 'default'.") == "gosvc"
    assert stated_default("Create it (default true).") == "true"
    assert stated_default("'preferred' (default) or 'required'.") == "preferred"
    assert stated_default("'data_stream' (default: logs-gosvc-default) or 'daily'.") == "data_stream"
    assert stated_default("gzip (default), snappy or none.") == "gzip"
    assert stated_default("Topic name.") is None
    assert same_value("0.05", 0.05) and not same_value("2.5", 2) and same_value("false", False) and not same_value("1", True)
