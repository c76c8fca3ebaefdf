"""Time-series built-ins: forecasting (statsforecast AutoETS / AutoARIMA) and anomaly scoring (river).

Both take a posted series — numbers, or `{"ts", "value"}` points in time order — so a department system can send a
queue length or a daily count; or, instead of `series`, a device's stored telemetry: `device_id`, `metric`, `start`,
`end`, read from the connect store as the calling application's unit (a device it may not see is a 404).
They compute for a while (AutoARIMA with a season takes
seconds), so the gateway runs them in a worker thread (`blocking = True`), never on its event loop.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cityhub.compute.builtins.base import BuiltinError, BuiltinRequest, Handler, document

MAX_POINTS = 10_000
MAX_HORIZON = 500
# Instead of `series`: a device's stored telemetry, read as the calling application's unit
STORED: dict[str, Any] = {
    "device_id": {"type": "string", "format": "uuid", "description": "A device whose stored telemetry is read "
                  "(instead of series); one the calling unit may see"},
    "metric": {"type": "string", "description": "The device's metric key (with device_id)"},
    "start": {"type": "string", "format": "date-time", "description": "From, inclusive (with device_id)"},
    "end": {"type": "string", "format": "date-time", "description": "To, exclusive (with device_id)"},
}


def _stored(req: BuiltinRequest, body: dict[str, Any], minimum: int) -> tuple[list[float], list[Any]]:
    """A device's stored telemetry (`device_id`, `metric`, `start`, `end`) read with the caller's rights."""
    from cityhub.kit.errors import NotFound, ValidationFailed

    try:
        device_id = uuid.UUID(str(body.get("device_id")))
    except ValueError as exc:
        raise BuiltinError(422, "validation_failed", "'device_id' must be a device's id", "device_id") from exc
    metric = body.get("metric")
    if not isinstance(metric, str) or not 0 < len(metric) <= 100:
        raise BuiltinError(422, "validation_failed", "'metric' is required (a metric key)", "metric")
    bounds: list[datetime] = []
    for name in ("start", "end"):
        try:
            at = datetime.fromisoformat(str(body.get(name)))
        except ValueError as exc:
            raise BuiltinError(422, "validation_failed", f"'{name}' must be an ISO 8601 time", name) from exc
        if at.tzinfo is None:
            raise BuiltinError(422, "validation_failed", f"'{name}' needs a time zone", name)
        bounds.append(at)
    if bounds[1] <= bounds[0]:
        raise BuiltinError(422, "validation_failed", "'end' must be after 'start'", "end")
    if req.telemetry is None:
        raise BuiltinError(422, "validation_failed", "Stored telemetry is read only through the gateway",
                           "device_id")
    try:
        points = req.telemetry(device_id, metric, bounds[0], bounds[1], MAX_POINTS + 1)
    except NotFound as exc:
        raise BuiltinError(404, "not_found", "Device not found", "device_id") from exc
    except ValidationFailed as exc:
        raise BuiltinError(422, "validation_failed", exc.message, exc.field or "start") from exc
    if not minimum <= len(points) <= MAX_POINTS:
        raise BuiltinError(422, "validation_failed",
                           f"the range holds {len(points)} points of '{metric}'; {minimum} to {MAX_POINTS} needed",
                           "series")
    return [float(v) for _ts, v in points], [ts.isoformat() for ts, _v in points]


def _series(req: BuiltinRequest, minimum: int) -> tuple[list[float], list[Any] | None]:
    """The posted `series` as floats and its timestamps, or a device's stored telemetry (`device_id`); 422s."""
    body = req.json_body()
    if "device_id" in body and "series" not in body:
        return _stored(req, body, minimum)
    raw = body.get("series")
    if not isinstance(raw, list):
        raise BuiltinError(422, "validation_failed", "'series' must be a list of numbers or {ts, value} points",
                           "series")
    if not minimum <= len(raw) <= MAX_POINTS:
        raise BuiltinError(422, "validation_failed", f"'series' needs {minimum} to {MAX_POINTS} points", "series")
    values: list[float] = []
    stamps: list[Any] | None = [] if raw and isinstance(raw[0], dict) else None
    for i, item in enumerate(raw):
        v = item.get("value") if isinstance(item, dict) and stamps is not None else item
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BuiltinError(422, "validation_failed", f"point {i} is not a finite number", f"series[{i}]")
        values.append(float(v))
        if stamps is not None:
            stamps.append(item.get("ts"))
    return values, stamps


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    v = body.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise BuiltinError(422, "validation_failed", f"'{name}' must be a whole number from {low} to {high}", name)
    return v


class Forecast:
    """Forecast a series `horizon` steps ahead with AutoETS or AutoARIMA, with a prediction interval."""

    name = "forecast"
    title = "Time-series forecast (AutoETS / AutoARIMA)"
    blocking = True
    reads_telemetry = True  # the gateway hands it a reader of the caller's devices' stored telemetry

    def openapi(self) -> dict[str, Any]:
        """POST /forecast."""
        return document(self.title, "时间序列预测：AutoETS / AutoARIMA，附预测区间", {"/forecast": {"post": {
            "summary": "Forecast a posted series",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "properties": {**STORED,
                    "series": {"type": "array", "minItems": 8, "maxItems": MAX_POINTS,
                               "items": {"oneOf": [{"type": "number"}, {"type": "object", "properties": {
                                   "ts": {"type": "string"}, "value": {"type": "number"}}}]}},
                    "horizon": {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON, "default": 12},
                    "season_length": {"type": "integer", "minimum": 1, "maximum": 400, "default": 1},
                    "model": {"type": "string", "enum": ["auto_ets", "auto_arima"], "default": "auto_ets"},
                    "level": {"type": "integer", "minimum": 50, "maximum": 99, "default": 80}}}}}},
            "responses": {"200": {"description": "mean, lo and hi per step ahead, and the model fitted",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          "422": {"description": "Invalid input"}}}}})

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """The routing table."""
        return {("POST", "forecast"): self.forecast}

    def forecast(self, req: BuiltinRequest) -> dict[str, Any]:
        """Fit the model and forecast."""
        import numpy as np
        from statsforecast.models import AutoARIMA, AutoETS

        body = req.json_body()
        values, _stamps = _series(req, 8)
        horizon = _int(body, "horizon", 12, 1, MAX_HORIZON)
        season = _int(body, "season_length", 1, 1, 400)
        level = _int(body, "level", 80, 50, 99)
        model_name = body.get("model", "auto_ets")
        if model_name not in ("auto_ets", "auto_arima"):
            raise BuiltinError(422, "validation_failed", "'model' must be auto_ets or auto_arima", "model")
        if season > 1 and len(values) < 2 * season:
            raise BuiltinError(422, "validation_failed", "A seasonal model needs two full seasons of points",
                               "season_length")
        model = AutoETS(season_length=season) if model_name == "auto_ets" else AutoARIMA(season_length=season)
        try:
            out = model.forecast(y=np.asarray(values, dtype=float), h=horizon, level=[level])
        except Exception as exc:  # a degenerate series the model cannot fit (e.g. all equal with a season)
            raise BuiltinError(422, "validation_failed", f"The model could not be fitted: {exc}"[:300],
                               "series") from exc

        def clean(xs: Any) -> list[float]:
            return [round(float(x), 6) for x in xs]

        return {"model": model_name, "season_length": season, "horizon": horizon, "level": level,
                "mean": clean(out["mean"]), "lo": clean(out[f"lo-{level}"]), "hi": clean(out[f"hi-{level}"])}


class AnomalyScoring:
    """Score every point of a series for how unusual it is, online (river), and flag those above a threshold."""

    name = "anomaly"
    title = "Anomaly scoring of a series (river)"
    blocking = True
    reads_telemetry = True  # the gateway hands it a reader of the caller's devices' stored telemetry

    def openapi(self) -> dict[str, Any]:
        """POST /score."""
        return document(self.title, "时间序列异常评分：river 在线模型逐点评分并标出异常", {"/score": {"post": {
            "summary": "Score each point of a posted series",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "properties": {**STORED,
                    "series": {"type": "array", "minItems": 3, "maxItems": MAX_POINTS},
                    "method": {"type": "string", "enum": ["gaussian"], "default": "gaussian"},
                    "threshold": {"type": "number", "minimum": 0.5, "maximum": 1, "default": 0.99},
                    "warmup": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}}}}}},
            "responses": {"200": {"description": "a score in [0, 1] per point and the anomalous points",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          "422": {"description": "Invalid input"}}}}})

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """The routing table."""
        return {("POST", "score"): self.score}

    def score(self, req: BuiltinRequest) -> dict[str, Any]:
        """Score then learn each point in order (each point is judged only by what came before it)."""
        from river import anomaly

        body = req.json_body()
        values, stamps = _series(req, 3)
        method = body.get("method", "gaussian")
        threshold = body.get("threshold", 0.99)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.5 <= threshold <= 1:
            raise BuiltinError(422, "validation_failed", "'threshold' must lie between 0.5 and 1", "threshold")
        warmup = _int(body, "warmup", 10, 1, 1000)
        scores: list[float] = []
        if method == "gaussian":  # the probability mass of a Gaussian fitted online lying nearer the mean
            # river's scorer is untyped: the three calls below carry the ignore for that reason only
            scorer = anomaly.GaussianScorer(grace_period=warmup)  # type: ignore[no-untyped-call]  # river's anomaly module has no annotations
            for v in values:
                scores.append(float(scorer.score_one(None, v)))  # type: ignore[no-untyped-call]  # river's anomaly module has no annotations
                scorer.learn_one(None, v)  # type: ignore[no-untyped-call]  # river's anomaly module has no annotations
        else:
            raise BuiltinError(422, "validation_failed", "'method' must be gaussian", "method")
        flagged = [i for i, s in enumerate(scores) if i >= warmup and s >= threshold]
        out: dict[str, Any] = {"method": method, "threshold": threshold,
                               "scores": [round(s, 6) for s in scores], "anomalies": flagged}
        if stamps is not None:
            out["anomaly_ts"] = [stamps[i] for i in flagged]
        return out
