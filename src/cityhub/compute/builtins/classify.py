"""Citizen-report classification into the ops incident categories (jieba words + scikit-learn).

Trained at first use (about two seconds) on the shipped labelled set (`reportset.py`, `data/citizen_reports.csv`):
the reports naming a held-out thing or problem of their category are kept back, and the accuracy on those —
phrasings the model never saw — is kept with the model and answered by `GET /model`.
Features are jieba's words and the characters' bigrams (TF-IDF, so an unseen word still shares characters with
known ones); the model is a logistic regression, whose probabilities give the confidence and the runner-up
categories. The ops center can route a report it receives by the answer, and a person decides when the
confidence is low.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityhub.compute.builtins import reportset
from cityhub.compute.builtins.base import BuiltinError, BuiltinRequest, Handler, document, operation

MAX_TEXT = 2000


@dataclass(frozen=True)
class Trained:
    """The fitted pipeline and what it scored on the held-back reports."""

    pipeline: Any
    categories: list[str]
    train_size: int
    test_size: int
    accuracy: float


def _words(text: str) -> list[str]:
    import jieba

    return [w for w in jieba.lcut(text) if w.strip() and w not in "，。！？、,.!?"]


def train(rows: list[tuple[str, str]] | None = None) -> Trained:
    """Fit on the labelled reports but the held-back ones, and score on those."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    rows = rows if rows is not None else reportset.load()
    test = [r for r in rows if reportset.held_back(r[0])]
    train_rows = [r for r in rows if not reportset.held_back(r[0])]
    pipeline = make_pipeline(
        make_union(TfidfVectorizer(tokenizer=_words, token_pattern=None, lowercase=False, sublinear_tf=True),
                   TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True)),
        LogisticRegression(max_iter=2000, C=5.0))
    pipeline.fit([t for t, _c in train_rows], [c for _t, c in train_rows])
    predicted = pipeline.predict([t for t, _c in test])
    accuracy = sum(p == c for p, (_t, c) in zip(predicted, test, strict=True)) / len(test) if test else 0.0
    return Trained(pipeline, [str(c) for c in pipeline.classes_], len(train_rows), len(test), round(accuracy, 4))


_model: Trained | None = None
_lock = threading.Lock()


def model() -> Trained:
    """The process's model, trained at first use."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = train()
    return _model


class ReportClassifier:
    """Which ops incident category a citizen's report is about, with the confidence and the runners-up."""

    name = "report-classify"
    title = "Citizen report classification (incident categories)"
    blocking = True

    def openapi(self) -> dict[str, Any]:
        """POST /classify, GET /model."""
        classify = operation("Classify a report's text", [("text", "string", True)], "post")
        classify["requestBody"]["content"]["application/json"]["schema"]["properties"]["text"]["maxLength"] = \
            MAX_TEXT
        return document(self.title, "市民诉求分类：jieba 分词 + scikit-learn，归入一网统管的事件类别", {
            "/classify": {"post": classify},
            "/model": {"get": operation("The categories and the held-back accuracy", [])}})

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """The routing table."""
        return {("POST", "classify"): self.classify, ("GET", "model"): self.describe}

    def classify(self, req: BuiltinRequest) -> dict[str, Any]:
        """The most likely category and the next two."""
        text = req.param("text")
        if len(text) > MAX_TEXT:
            raise BuiltinError(422, "validation_failed", f"'text' is over {MAX_TEXT} characters", "text")
        m = model()
        probs = m.pipeline.predict_proba([text])[0]
        ranked = sorted(zip(m.categories, probs, strict=True), key=lambda cp: -cp[1])
        return {"category": ranked[0][0], "confidence": round(float(ranked[0][1]), 4),
                "candidates": [{"category": c, "probability": round(float(p), 4)} for c, p in ranked[:3]]}

    def describe(self, req: BuiltinRequest) -> dict[str, Any]:
        """What the model was trained on and how it scored."""
        m = model()
        return {"categories": m.categories, "train_size": m.train_size, "test_size": m.test_size,
                "held_back_accuracy": m.accuracy}
