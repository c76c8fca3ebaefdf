"""Human labels (kit.labels): every registered code has a label and a zh_CN translation; money and numbers read."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import pytest

import cityhub.app  # noqa: F401  # imports every domain, so every vocabulary is registered
from cityhub.kit import i18n, labels


def test_every_registered_code_has_a_chinese_label() -> None:
    zh = i18n.catalogue("zh_CN")
    missing = [f"{kind}:{code} ({text!r})" for kind, table in labels.vocabularies().items()
               for code, text in table.items() if text not in zh]
    assert not missing, "labels without a zh_CN translation:\n" + "\n".join(missing)


def test_an_enum_registered_without_every_member_is_refused() -> None:
    class Colour(StrEnum):
        RED = "red"
        GREEN = "green"

    with pytest.raises(ValueError, match="green"):
        labels.register(Colour, {Colour.RED: "Red"})


def test_labels_follow_the_locale_and_unregistered_codes_still_read_as_words() -> None:
    class Stage(StrEnum):
        PENDING_BUREAU = "pending_bureau"

    labels.register(Stage, {Stage.PENDING_BUREAU: "Pending bureau review"})
    assert labels.label(Stage.PENDING_BUREAU, locale="en") == "Pending bureau review"
    assert labels.label("pending_bureau", Stage, locale="en") == "Pending bureau review"
    assert labels.label("some_new_code", locale="en") == "Some new code"
    assert labels.label(None) == ""


@pytest.mark.parametrize(("value", "text"), [
    (7200.0, "¥7,200.00"), (Decimal("1234567.891"), "¥1,234,567.89"), (0, "¥0.00"), (-5.5, "-¥5.50"),
])
def test_money_has_separators_and_two_decimals(value: float | Decimal, text: str) -> None:
    assert labels.money(value) == text


def test_numbers_have_separators() -> None:
    assert labels.number(4690.92) == "4,690.92"
    assert labels.number(12000) == "12,000"
    assert labels.number(12000.0) == "12,000"
    assert labels.number(3.14159, 1) == "3.1"


def test_a_name_someone_wrote_is_shown_as_written_only_codes_are_humanized() -> None:
    assert labels.label("pending_bureau", "no.such.vocabulary") == "Pending bureau"
    for written in ("智慧交通", "<img src=x onerror=window.__xss='theme'>", "Air quality_2024 (PM2.5)"):
        assert labels.label(written, "no.such.vocabulary") == written
