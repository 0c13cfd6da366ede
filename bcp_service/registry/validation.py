"""Pydantic errors from the registry schemas, said in words a clinic clerk can act on.

The schemas stay the one place for the rules; this only rewords their errors and says which
schema field each belongs to, so the importer can name the CSV column.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from bcp_service.typed_input import DATE_REASON, NUMBER_REASON

NUMBER_ERRORS = {"float_parsing", "float_type", "int_parsing", "int_type", "int_from_float", "finite_number"}
DATE_ERRORS = {
    "date_parsing",
    "date_type",
    "date_from_datetime_parsing",
    "date_from_datetime_inexact",
    "datetime_parsing",
}

# Errors raised by a model validator carry no field; the message says which rule failed.
MODEL_RULES = (
    (
        "ventilator_mode",
        "ventilator_mode",
        "呼吸器の種類が入力されていますが、人工呼吸器が「はい」になっていません (ventilator mode without ventilator)",
    ),
    (
        "oxygen_source",
        "oxygen_source",
        "酸素の種類が入力されていますが、在宅酸素が「はい」になっていません (oxygen source without oxygen)",
    ),
)


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def reason(error: dict) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        # The registry's own validators already speak Japanese first, English in brackets.
        return str(ctx.get("error", error.get("msg", "")))
    if kind == "missing":
        return "入力してください (required)"
    if kind == "string_too_short":
        return "入力してください (required)"
    if kind == "string_too_long":
        return f"{ctx.get('max_length')}文字以内にしてください (too long)"
    if kind == "greater_than_equal":
        return f"{_number(ctx.get('ge'))}以上の数値にしてください (too small)"
    if kind == "greater_than":
        return f"{_number(ctx.get('gt'))}より大きい数値にしてください (too small)"
    if kind == "less_than_equal":
        return f"{_number(ctx.get('le'))}以下の数値にしてください (too large)"
    if kind == "less_than":
        return f"{_number(ctx.get('lt'))}未満の数値にしてください (too large)"
    if kind in NUMBER_ERRORS:
        return NUMBER_REASON
    if kind in DATE_ERRORS:
        return DATE_REASON
    if kind == "string_pattern_mismatch":
        return "形式が正しくありません (wrong format)"
    if kind == "enum":
        return f"次のいずれかを入力してください: {ctx.get('expected', '')} (not an allowed value)"
    return f"値が正しくありません (invalid value: {error.get('msg', kind)})"


def field_errors(exc: ValidationError) -> Iterator[tuple[tuple, str, bool]]:
    """(location, reason, from a model-level rule) for each error; a model-level rule is placed on
    the field it is about."""
    for error in exc.errors(include_input=False, include_url=False):
        loc = tuple(error.get("loc", ()))
        if not loc:
            message = str(error.get("msg", ""))
            for needle, field, text in MODEL_RULES:
                if needle in message:
                    yield (field,), text, True
                    break
            else:
                yield (), reason(error), True
            continue
        yield loc, reason(error), False
