"""Config knobs, each defined once: a component's keys are the fields of one frozen
dataclass (its schema), and each field's metadata holds the knob: the values allowed (in
words, for messages and docs, and as a test), what the key does, and an example fix.
The field's default is the key's default. The component's check, its one-line errors,
the README's key table and the tests of the presets all read the schema; `parse` gives
the component a typed instance of it.

Why stdlib dataclasses and not a validation library (pydantic, attrs, cerberus): none
of them is a dependency of the plugin, which installs into the user's EPyMARL
environment next to pinned upstreams, so one more package must earn its place; the
checks are a few predicates per key, and the messages must keep the plugin's one-line
form (what was wrong, what is allowed, how to fix) rather than a library's report.
Dataclass fields already carry a name, a default and a type; `metadata` carries the rest.
"""

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Optional, TypeVar

from epymarl_sn.errors import ConfigError
from epymarl_sn.values import is_int, is_number

_KNOB = "knob"


@dataclass(frozen=True)
class Knob:
    allowed: str  # the values allowed, in words: the `allowed:` of an error, the docs
    help: str  # what the key does: the README's key table
    valid: Callable[[Any], bool]  # whether a value is allowed (on its own)
    example: Any = MISSING  # the value an error suggests; the default when MISSING
    key: str = ""  # the config key, where it is not the field's name
    wrong: str = "is not allowed"  # what an error says of a value not allowed


@dataclass(frozen=True)
class Setting:
    """One key of a schema: its knob, its name in the config and its default."""

    name: str  # the dataclass field
    key: str  # the config key
    default: Any  # MISSING for a key that must be given
    knob: Knob

    @property
    def example(self) -> Any:
        return self.default if self.knob.example is MISSING else self.knob.example


def knob(
    default: Any = MISSING,
    *,
    allowed: str,
    help: str,
    valid: Callable[[Any], bool],
    example: Any = MISSING,
    key: str = "",
    wrong: str = "is not allowed",
) -> Any:
    """A schema field: `default` (none: the key must be given) and its knob."""
    return field(
        default=default,
        metadata={_KNOB: Knob(allowed, help, valid, example, key, wrong)},
    )


def settings(schema: type) -> tuple[Setting, ...]:
    """The keys of a schema dataclass, in its order; TypeError for a field that is no
    knob (a schema is its knobs, nothing else)."""
    bare = [f.name for f in fields(schema) if _KNOB not in f.metadata]
    if bare:
        raise TypeError(f"{schema.__name__}.{bare[0]} is not a knob: declare it with knob()")
    return tuple(
        Setting(f.name, f.metadata[_KNOB].key or f.name, f.default, f.metadata[_KNOB])
        for f in fields(schema)
    )


def setting(schema: type, key: str) -> Setting:
    """The key `key` of a schema."""
    return next(s for s in settings(schema) if s.key == key)


def defaults(schema: type) -> dict[str, Any]:
    """{config key: default} of a schema's keys that have one."""
    return {s.key: s.default for s in settings(schema) if s.default is not MISSING}


def keys(schema: type) -> tuple[str, ...]:
    return tuple(s.key for s in settings(schema))


Schema = TypeVar("Schema")


def refused(s: Setting, value: Any, prefix: str = "", allowed: str = "") -> ConfigError:
    """A run config's one-line error for a value of `s` that is not allowed (`allowed`:
    the allowed values in this config, where they depend on its other keys; else the
    knob's), naming a quoted or boolean value's type where the default's differs
    (`'50' (str)`)."""
    wrong = s.knob.wrong
    quoted_or_flag = isinstance(value, (str, bool)) and s.default not in (None, MISSING)
    if quoted_or_flag and type(value) is not type(s.default):
        wrong = f"({type(value).__name__}) {wrong}"
    return ConfigError(refusal(prefix + s.key, value, allowed or s.knob.allowed, s.example, wrong))


def parse(
    schema: "type[Schema]",
    config: Mapping[str, Any],
    refuse: Optional[Callable[[Setting, Any], Exception]] = None,
    *,
    prefix: str = "",
    allowed: Optional[Mapping[str, str]] = None,
) -> "Schema":
    """The schema's keys of `config` as an instance of the schema (a missing key takes
    its default). The first value its knob does not allow raises the one-line
    ConfigError of `refused` (its key named with `prefix`, e.g. `env_args.`; `allowed`:
    key -> the allowed values in words where they depend on the config's other keys),
    or refuse(setting, value) where the input is not a run's config (a sweep spec).
    Checks between keys are the component's, after this."""
    values = {}
    for s in settings(schema):
        value = config.get(s.key, s.default)
        if value is MISSING or not s.knob.valid(value):
            value = None if value is MISSING else value
            if refuse is not None:
                raise refuse(s, value)
            raise refused(s, value, prefix, (allowed or {}).get(s.key, ""))
        values[s.name] = value
    return schema(**values)


def pop(schema: "type[Schema]", kwargs: dict[str, Any]) -> "Schema":
    """Take a schema's (checked) keys out of `kwargs` as an instance of the schema (a
    missing key takes its default); the rest stays for whoever gets `kwargs`."""
    return schema(**{s.name: kwargs.pop(s.key) for s in settings(schema) if s.key in kwargs})


def text(value: Any) -> str:
    """A value as a user types it in YAML or after `with`: null, mid, 1.0, [2, 3]."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return repr(value)


def refusal(key: str, value: Any, allowed: str, example: Any, wrong: str = "is not allowed") -> str:
    """The run config's one-line error for a bad value of `key`."""
    return f"{key}: {value!r} {wrong}; allowed: {allowed}; set e.g. {key}={text(example)}"


def key_table(schemas: "list[tuple[type, str]]") -> str:
    """The README's table of config keys: (schema, prefix of its keys) in order."""
    rows = ["| key | default | what |", "|---|---|---|"]
    for schema, prefix in schemas:
        for s in settings(schema):
            default = "required" if s.default is MISSING else f"`{text(s.default)}`"
            rows.append(f"| `{prefix}{s.key}` | {default} | {s.knob.help} |")
    return "\n".join(rows)


# the knobs' common tests of a value


def boolean(value: Any) -> bool:
    return isinstance(value, bool)


def integer(least: int, most: Optional[int] = None) -> Callable[[Any], bool]:
    """An int (never a bool) from `least` to `most`."""
    return lambda value: is_int(value) and least <= value and (most is None or value <= most)


def optional(valid: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """null (None), or what `valid` allows."""
    return lambda value: value is None or valid(value)


def number(value: Any) -> bool:
    return is_number(value)


def one_of(*choices: Any) -> Callable[[Any], bool]:
    # `is` for bools: 1 == True to Python, never to a user
    return lambda value: any(
        value is c if isinstance(c, bool) or isinstance(value, bool) else value == c
        for c in choices
    )
