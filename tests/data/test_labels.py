"""The data vocabularies' labels: the Chinese label of every code is the guideline's Chinese name, English differs."""

from __future__ import annotations

import pytest

from cityhub.data import models, vocabulary
from cityhub.kit import labels

CHINESE = {"data.classification": vocabulary.CLASSIFICATIONS, "data.base_db": vocabulary.BASE_DBS,
           "data.format": vocabulary.FORMATS, "data.share_type": vocabulary.SHARE_TYPES,
           "data.open_type": vocabulary.OPEN_TYPES, "data.share_mode": vocabulary.SHARE_MODES,
           "data.update_cycle": vocabulary.UPDATE_CYCLES, "data.data_type": vocabulary.DATA_TYPES,
           "data.objection_kind": vocabulary.OBJECTION_KINDS, "data.resource_kind": vocabulary.RESOURCE_KINDS}


@pytest.mark.parametrize("kind", sorted(CHINESE))
def test_chinese_labels_are_the_guideline_names_and_english_ones_are_english(kind: str) -> None:
    for code, chinese in CHINESE[kind].items():
        if not code:  # an empty value shows as nothing (labels.label), whatever its name
            continue
        assert labels.label(code, kind, locale="zh_CN") == chinese, (kind, code)
        english = labels.label(code, kind, locale="en")
        assert english and not any("\u4e00" <= ch <= "\u9fff" for ch in english), (kind, code, english)


def test_every_status_reads_as_words_in_both_languages() -> None:
    for enum in (models.EntryStatus, models.RequestStatus, models.DemandStatus, models.ObjectionStatus):
        for member in enum:
            zh, en = labels.label(member, locale="zh_CN"), labels.label(member, locale="en")
            assert zh != en and "_" not in zh + en, (member, zh, en)
    assert labels.label("pending_review", models.EntryStatus, locale="zh_CN") == "待审核"
