"""JSON-schema validation (``jsonschema`` when installed, a documented subset otherwise) and inference.

The built-in subset understands: type (including lists of types and "integer"), enum, const,
required, properties, additionalProperties (true/false or a schema), items (one schema),
minItems, maxItems, minLength, maxLength, pattern, minimum, maximum, exclusiveMinimum,
exclusiveMaximum (numbers), and the boolean schemas true/false. Anything else is ignored.
"""

from __future__ import annotations

import re
from typing import Any, Callable

__all__ = ["SchemaValidator", "infer_schema", "merge_schemas", "validate_subset"]

_DRAFTS = {
    "4": "Draft4Validator",
    "6": "Draft6Validator",
    "7": "Draft7Validator",
    "2019-09": "Draft201909Validator",
    "2020-12": "Draft202012Validator",
}


class SchemaValidator:
    """A compiled schema; ``errors(instance)`` lists what is wrong (empty when valid)."""

    def __init__(
        self, schema: Any, draft: str = "auto", use_jsonschema: bool | None = None
    ) -> None:
        self.schema = schema
        self.draft = str(draft)
        if self.draft != "auto" and self.draft not in _DRAFTS:
            raise ValueError(f"draft must be auto or one of {', '.join(_DRAFTS)}; got {draft!r}")
        self._check: Callable[[Any], list[str]] = self._compile(use_jsonschema)

    def _compile(self, use_jsonschema: bool | None) -> Callable[[Any], list[str]]:
        if use_jsonschema is not False:
            try:
                import jsonschema  # optional: the [jsonschema] extra
            except ImportError:
                if use_jsonschema:
                    raise ImportError(
                        "jsonschema is not installed: pip install 'pika-streamdal[jsonschema]'"
                    ) from None
            else:
                if self.draft == "auto":
                    cls = jsonschema.validators.validator_for(self.schema)
                else:
                    cls = getattr(jsonschema, _DRAFTS[self.draft])
                cls.check_schema(self.schema)
                validator = cls(self.schema)

                def check(instance: Any) -> list[str]:
                    return [error.message for error in validator.iter_errors(instance)]

                self.engine = "jsonschema"
                return check
        self.engine = "builtin"
        schema = self.schema
        return lambda instance: validate_subset(instance, schema)

    def errors(self, instance: Any) -> list[str]:
        """Everything wrong with ``instance`` (empty when it is valid)."""
        return self._check(instance)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer()
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate_subset(instance: Any, schema: Any, where: str = "$") -> list[str]:
    """The built-in validator (see the module docstring for what it understands)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{where}: no value is allowed here"]
    if not isinstance(schema, dict):
        return [f"{where}: the schema is not an object"]
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_TYPES.get(name, lambda v: False)(instance) for name in names):
            errors.append(f"{where}: {instance!r} is not of type {expected!r}")
            return errors
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{where}: {instance!r} is not one of {schema['enum']!r}")
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{where}: {instance!r} is not {schema['const']!r}")
    if isinstance(instance, dict):
        for name in schema.get("required", ()):
            if name not in instance:
                errors.append(f"{where}: {name!r} is a required property")
        properties = schema.get("properties", {})
        for name, value in instance.items():
            if name in properties:
                errors.extend(validate_subset(value, properties[name], f"{where}.{name}"))
            elif "additionalProperties" in schema:
                errors.extend(
                    validate_subset(value, schema["additionalProperties"], f"{where}.{name}")
                )
    elif isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, (dict, bool)):
            for index, item in enumerate(instance):
                errors.extend(validate_subset(item, items, f"{where}[{index}]"))
    elif isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and re.search(schema["pattern"], instance) is None:
            errors.append(f"{where}: {instance!r} does not match {schema['pattern']!r}")
    elif isinstance(instance, (int, float)) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{where}: {instance} is less than {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{where}: {instance} is more than {schema['maximum']}")
        low = schema.get("exclusiveMinimum")
        if isinstance(low, (int, float)) and not isinstance(low, bool) and instance <= low:
            errors.append(f"{where}: {instance} is not more than {low}")
        high = schema.get("exclusiveMaximum")
        if isinstance(high, (int, float)) and not isinstance(high, bool) and instance >= high:
            errors.append(f"{where}: {instance} is not less than {high}")
    return errors


# -------------------------------------------------------------------------------------------------
# Inference
# -------------------------------------------------------------------------------------------------


def infer_schema(value: Any) -> dict[str, Any]:
    """A JSON schema (draft 2020-12 subset) that ``value`` satisfies."""
    if isinstance(value, dict):
        return {
            "type": "object",
            "properties": {key: infer_schema(item) for key, item in value.items()},
            "required": sorted(value),
        }
    if isinstance(value, list):
        schema: dict[str, Any] = {"type": "array"}
        items: dict[str, Any] | None = None
        for item in value:
            inferred = infer_schema(item)
            items = inferred if items is None else merge_schemas(items, inferred)
        if items is not None:
            schema["items"] = items
        return schema
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    return {"type": "null"}


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return list(kind) if isinstance(kind, list) else [kind]


def merge_schemas(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The smallest inferred schema both payloads satisfy (types united, required intersected)."""
    types = sorted(set(_types(old)) | set(_types(new)))
    if "integer" in types and "number" in types:
        types.remove("integer")
    merged: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    if "object" in types:
        old_props = old.get("properties", {})
        new_props = new.get("properties", {})
        props: dict[str, Any] = {}
        for key in list(old_props) + [k for k in new_props if k not in old_props]:
            if key in old_props and key in new_props:
                props[key] = merge_schemas(old_props[key], new_props[key])
            else:
                props[key] = old_props.get(key, new_props.get(key))
        merged["properties"] = props
        old_required = set(old.get("required", [])) if "object" in _types(old) else None
        new_required = set(new.get("required", [])) if "object" in _types(new) else None
        if old_required is None:
            merged["required"] = sorted(new_required or ())
        elif new_required is None:
            merged["required"] = sorted(old_required)
        else:
            merged["required"] = sorted(old_required & new_required)
    if "array" in types:
        old_items, new_items = old.get("items"), new.get("items")
        if old_items is not None and new_items is not None:
            merged["items"] = merge_schemas(old_items, new_items)
        elif old_items is not None or new_items is not None:
            merged["items"] = old_items if old_items is not None else new_items
    return merged
