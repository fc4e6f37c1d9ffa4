"""The one option generator: every field of a config dataclass becomes an ``advdist-lab`` option.

:func:`add_config_options` adds ``--<field-name>`` per field of one or more dataclasses (``TrainConfig`` for
``train``, ``table1``, ``sweep``, ``tags`` and ``table4``; ``RobustTeacherConfig`` for ``robust-teacher``;
``DfardConfig`` and ``DerdConfig`` for ``dfard`` and ``dfard-table``), typed by the field's annotation
(:func:`option_type`), with the field's default in its help and ``argparse.SUPPRESS`` as its value, so that
:func:`option_values` returns exactly the options given on the command line and the config supplies the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence


def number(text: str) -> float:
    """A float, also written as a fraction such as ``8/255``."""
    numerator, slash, denominator = text.partition("/")
    try:
        return float(numerator) / float(denominator) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (or a fraction such as 8/255)") from None


def parse_bool(text: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``) as a bool."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (got {text!r})")


def name_list(text: str) -> tuple[str, ...]:
    """Comma-separated names (an attack list) as a tuple; ``none`` is the empty tuple. An empty text or an empty
    name (``''``, ``','``, ``'fgsm,,pgd_s'``) is refused: it is a slip, not a way to say none."""
    if text.strip().lower() == "none":
        return ()
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError(f"must list at least one name, or none (got {text!r})")
    if "" in parts:
        raise argparse.ArgumentTypeError(f"must be names separated by commas with no empty name (got {text!r})")
    return tuple(parts)


def option_type(field: dataclasses.Field) -> Callable[[str], object]:
    """The argparse ``type`` of a config field, by its annotation: a tuple is a comma-separated list
    (:func:`name_list`), a bool :func:`parse_bool`, an int ``int``, a float :func:`number` (``8/255`` too), anything
    else a string."""
    annotation = str(field.type)
    if "tuple" in annotation:
        return name_list
    if "bool" in annotation:
        return parse_bool
    if "int" in annotation:
        return int
    if "float" in annotation:
        return number
    return str


def is_flag(field: dataclasses.Field) -> bool:
    """A plain ``bool`` field off by default is a flag (``--probe-gradients``); other bools take true/false."""
    return str(field.type) == "bool" and field.default is False


def config_fields(configs: type | Sequence[type]) -> list[dataclasses.Field]:
    """The fields of one or more config dataclasses, the first class's field where names repeat."""
    classes = [configs] if isinstance(configs, type) else list(configs)
    seen: dict[str, dataclasses.Field] = {}
    for cls in classes:
        for field in dataclasses.fields(cls):
            seen.setdefault(field.name, field)
    return list(seen.values())


def _field_default(field: dataclasses.Field) -> object:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _default_text(value: object, unset: str, quote: bool) -> str:
    if value is None:
        return unset
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    return repr(value) if quote else str(value)


def add_config_options(
    parser: argparse.ArgumentParser,
    configs: type | Sequence[type],
    *,
    texts: Mapping[str, str],
    skip: Iterable[str] = (),
    defaults: Mapping[str, object] | None = None,
    where: str = "",
    unset: str = "default",
    quote: bool = True,
) -> None:
    """Add ``--<field-name>`` (dest the field's name) for every field of ``configs`` not in ``skip``.

    ``texts``: the help of each field (else its name in words); a text that states its own ``(default: ...)`` is
    used as it is, any other ends with the default: ``defaults[name]`` (followed by ``where``, e.g. ``" on
    digits"``) where given, else the field's, written as ``unset`` when ``None``, a tuple as typed
    (``pgd_s,pgd_t``), anything else with ``repr`` when ``quote`` else ``str``. Every option's value is
    ``argparse.SUPPRESS`` until given, so :func:`option_values` sees only what the command line set.
    """
    defaults = defaults or {}
    skipped = set(skip)
    for field in config_fields(configs):
        if field.name in skipped or field.name == "extra":
            continue
        flag = "--" + field.name.replace("_", "-")
        text = texts.get(field.name, field.name.replace("_", " "))
        if is_flag(field):
            parser.add_argument(flag, dest=field.name, action="store_true", default=argparse.SUPPRESS, help=text)
            continue
        if "(default:" not in text:
            if field.name in defaults:
                shown = _default_text(defaults[field.name], unset, quote) + where
            else:
                shown = _default_text(_field_default(field), unset, quote)
            text = f"{text} (default: {shown})"
        parser.add_argument(flag, dest=field.name, type=option_type(field), default=argparse.SUPPRESS, help=text)


def option_values(
    args: argparse.Namespace, configs: type | Sequence[type], skip: Iterable[str] = ()
) -> dict[str, object]:
    """The options given on the command line that are fields of ``configs`` (not in ``skip``), by field name."""
    names = {field.name for field in config_fields(configs)} - {"extra"} - set(skip)
    return {key: value for key, value in vars(args).items() if key in names}
