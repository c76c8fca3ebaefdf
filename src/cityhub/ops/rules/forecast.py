"""Forecast-based early warning (预判预警): Holt's linear trend per series — fitted in numpy, advanced per point.

A `forecast` rule fires when the series is **forecast** to cross its threshold within `condition.horizon_s`
("pipe-gallery water level is forecast to exceed 3 m within 2 h"). The model of one (device, metric) series is
Holt's linear trend (double exponential smoothing) in its irregular-time form, trend per second:

    pred = level + trend·Δt;  level' = pred + α·(y − pred);  trend' = β·(level' − level)/Δt + (1 − β)·trend

With regular spacing this is exactly Holt's method (checked against statsmodels' `Holt` with the same α, β and
start in `tests/ops/test_forecast.py`). Why this and not statsforecast's AutoETS: AutoETS selects and optimises a
model per series (measured 4.3 series/s — 5,000 series would take 20 min), and its state cannot be advanced one
point at a time inside the rule engine, so every arriving point would need a fresh forecast call. Holt's state is
two numbers: the engine advances it per point in O(1) (like the anomaly rule's EWMA) and the forecast at any
horizon is a line, so "will it cross within h" is a comparison at the two ends. It is still fitted, honestly:
`fit_many` picks (α, β) per series from a grid, for all series at once (numpy over series × grid), by the squared
error of its forecasts one point **and** `LEAD` points ahead over the history, starting from a least-squares line
through the first `START` points. Both choices came from the benchmark's first run, which raised 46 false alarms on
200 flat noisy series: started from the first two points' slope (noise), the grid chose β = 0.5 — the quickest way
to forget a wrong start within an hour of history — and a trend that swings on noise "forecasts" a crossing two
hours out. The fitted start removed them; scoring the half-hour-ahead forecast as well lowered the worst 2-hour
forecast of 50 flat series at 20 ± 1 from 51 to 40 (a rule looks ahead, so its model is scored looking ahead).
Squared errors are capped (`CLIP` × the series' robust step scale) when choosing: on the demo's gallery levels
(20 ± 2 mm with 1 % spikes of +120) the uncapped grid chose α = 0.05 to ignore the spikes, and a genuine rise of
1.2 mm/min was first warned of (twice in a row) at a median 169 mm, after the 100 mm threshold; capped, at 97 mm,
with 1 false warning in 100 series × 2 h (`test_spiky_series_are_warned_before_the_threshold` checks it on 20 series).
Bounding the state's own innovations (robust Holt, Gelper et al. 2010) was tried and was worse (a fast rise is
clipped like a spike: 18 rises in 100 never warned): spiky sensors still warn late — a despiking step before the
model is the next improvement.
The residual σ of the one-step
errors gives the prediction interval (Hyndman & Athanasopoulos, FPP3 §8.7: σ_h² = σ²·(1 + Σ_{j<k} α²(1 + jβ)²) for
k steps ahead). What it cannot do: seasonality (a daily
cycle) — rules watch hours, not days, and a grid search over seasonal models would cost what AutoETS costs.

Pure functions only: the refit schedule is `rules/refit.py`, evaluation is `rules/engine.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
BETAS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5)
LEAD = 30  # the fit scores forecasts 1 and LEAD points ahead (what a rule looks at), not only the next point
CLIP = 3.0  # squared errors are capped at (CLIP × the series' robust step scale)² when choosing α and β
START = 10  # the starting level and trend: a least-squares line through this many first points
MIN_POINTS = 12  # fewer points in the history window: the model is not fitted (an explicit error state)
Z95 = 1.959964  # the two-sided 95 % normal quantile of the interval
FORECAST_OPS = (">", ">=", "<", "<=")  # a forecast crosses a threshold upwards or downwards

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HoltFit:
    """A fitted series: smoothing parameters, the state at its last point, the residual σ and typical step."""

    alpha: float
    beta: float
    level: float
    trend: float  # per second
    ts: float  # epoch seconds of the last point folded into the state
    sigma: float
    step_s: float
    n: int

    def as_data(self, fitted_at: datetime) -> dict[str, Any]:
        """The model as the JSON a rule state keeps (`data["model"]`)."""
        return {"alpha": self.alpha, "beta": self.beta, "level": self.level, "trend": self.trend, "ts": self.ts,
                "sigma": self.sigma, "step_s": self.step_s, "n": self.n, "fitted_at": fitted_at.isoformat()}


def fit_many(series: Sequence[tuple[Floats, Floats]]) -> list[HoltFit | str]:
    """Fit Holt's (α, β) per series by grid search on the one-step-ahead error; all series at once.

    `series`: (epoch seconds ascending, values) per series. Returns a fit, or the reason it could not be fitted.
    """
    out: list[HoltFit | str] = ["" for _ in series]
    idx = []
    for i, (_ts, ys) in enumerate(series):
        ok = np.isfinite(ys)
        n = int(ok.sum())
        if n < MIN_POINTS:
            out[i] = f"only {n} points in the history window ({MIN_POINTS} needed)"
        else:
            idx.append(i)
    if not idx:
        return out
    width = max(int(np.isfinite(series[i][1]).sum()) for i in idx)
    s = len(idx)
    tsm = np.full((s, width), np.nan)
    ym = np.full((s, width), np.nan)
    for row, i in enumerate(idx):
        ts, ys = series[i]
        ok = np.isfinite(ys)
        tsm[row, : ok.sum()] = ts[ok]
        ym[row, : ok.sum()] = ys[ok]
    grid_a, grid_b = np.meshgrid(np.array(ALPHAS), np.array(BETAS), indexing="ij")
    a = grid_a.ravel()[None, :]
    b = grid_b.ravel()[None, :]
    g = a.shape[1]
    # robust scale of each series (median absolute step × 1.4826): a squared error beyond (CLIP × scale)² counts as
    # that much when choosing α and β, so a few isolated spikes cannot decide the grid point alone
    steps_abs = np.abs(np.diff(ym, axis=1))
    scale = np.nanmedian(np.where(np.isfinite(steps_abs), steps_abs, np.nan), axis=1) * 1.4826
    cap = (CLIP * np.where(scale > 0, scale, 1.0))[:, None] ** 2
    level0, trend0 = _start(tsm, ym)
    level = np.repeat(level0[:, None], g, axis=1)
    trend = np.repeat(trend0[:, None], g, axis=1)
    sse = np.zeros((s, g))
    last = tsm[:, 0].copy()
    used = np.ones(s)
    # the states after each of the last LEAD points, to score the forecast LEAD points ahead as well
    ring_level = np.zeros((LEAD, s, g))
    ring_trend = np.zeros((LEAD, s, g))
    ring_level[0], ring_trend[0] = level, trend
    one_minus_b = 1 - b
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in range(1, width):
            y = ym[:, t]
            dt = tsm[:, t] - last
            valid = np.isfinite(y) & (dt > 0)
            every = bool(valid.all())  # the common case: series of the same length, nothing to mask
            if not every and not valid.any():
                continue
            v = valid[:, None]
            dtc = (dt if every else np.where(valid, dt, 1.0))[:, None]
            pred = level + trend * dtc
            err = y[:, None] - pred
            if not every:
                err = np.where(v, err, 0.0)
            if t >= LEAD:  # series are packed from the left: index t - LEAD is LEAD points earlier
                slot = t % LEAD
                far_err = y[:, None] - ring_level[slot] - ring_trend[slot] * (tsm[:, t] - tsm[:, t - LEAD])[:, None]
                if not every:
                    far_err = np.where(v, far_err, 0.0)
                np.square(far_err, out=far_err)
                sse += np.minimum(far_err, cap, out=far_err)
            new_level = pred + a * err
            new_trend = b * (new_level - level) / dtc + one_minus_b * trend
            np.square(err, out=err)
            sse += np.minimum(err, cap, out=err)
            if every:
                level, trend, last = new_level, new_trend, tsm[:, t]
                used += 1
            else:
                level = np.where(v, new_level, level)
                trend = np.where(v, new_trend, trend)
                last = np.where(valid, tsm[:, t], last)
                used += valid
            ring_level[t % LEAD], ring_trend[t % LEAD] = level, trend
    best = np.argmin(sse, axis=1)
    sigmas = _one_step_sigma(tsm, ym, used, a[0, best], b[0, best])
    for row, i in enumerate(idx):
        k = int(best[row])
        n = int(used[row])
        steps = np.diff(tsm[row, :n])
        out[i] = HoltFit(alpha=float(a[0, k]), beta=float(b[0, k]), level=float(level[row, k]),
                         trend=float(trend[row, k]), ts=float(last[row]),
                         sigma=sigmas[row],
                         step_s=float(np.median(steps)) if steps.size else 60.0, n=n)
    return out


def _start(tsm: Floats, ym: Floats) -> tuple[Floats, Floats]:
    """The state at the first point: the least-squares line through the first `START` points.

    Starting from the first two points' slope (noise, on a noisy series) made the grid prefer a large β, the only
    way to forget a wrong starting trend within a short history — and a large β then swings the trend on noise.
    """
    x = tsm[:, :START] - tsm[:, :1]
    y = ym[:, :START]
    xm, ymean = x.mean(axis=1, keepdims=True), y.mean(axis=1, keepdims=True)
    var = ((x - xm) ** 2).sum(axis=1)
    slope = np.where(var > 0, ((x - xm) * (y - ymean)).sum(axis=1) / np.where(var > 0, var, 1.0), 0.0)
    return (ymean[:, 0] - slope * xm[:, 0]).astype(np.float64), slope.astype(np.float64)


def _one_step_sigma(tsm: Floats, ym: Floats, used: Floats, alpha: Floats, beta: Floats) -> list[float]:
    """σ of the one-step-ahead errors of the chosen (α, β) per series (the interval is built on it)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        level, trend = _start(tsm, ym)
        sse = np.zeros(len(level))
        last = tsm[:, 0].copy()
        for t in range(1, tsm.shape[1]):
            y = ym[:, t]
            dt = tsm[:, t] - last
            valid = np.isfinite(y) & (dt > 0)
            dtc = np.where(valid, dt, 1.0)
            pred = level + trend * dtc
            err = np.where(valid, y - pred, 0.0)
            new_level = pred + alpha * err
            trend = np.where(valid, beta * (new_level - level) / dtc + (1 - beta) * trend, trend)
            level = np.where(valid, new_level, level)
            sse += err * err
            last = np.where(valid, tsm[:, t], last)
    return [float(math.sqrt(e / max(1.0, n - 2))) for e, n in zip(sse, used, strict=True)]


def advance(model: Mapping[str, Any], ts: float, value: float) -> dict[str, Any] | None:
    """The model after one more point (None for a point not after the model's last one)."""
    dt = ts - float(model["ts"])
    if dt <= 0:
        return None
    alpha, beta = float(model["alpha"]), float(model["beta"])
    level, trend = float(model["level"]), float(model["trend"])
    pred = level + trend * dt
    new_level = pred + alpha * (value - pred)
    new_trend = beta * (new_level - level) / dt + (1 - beta) * trend
    return {**model, "level": new_level, "trend": new_trend, "ts": ts}


def advance_in_place(model: dict[str, Any], ts: float, value: float, upward: bool, horizon_s: float) -> float | None:
    """`advance` and the measure `forecast` compares, in one, for the engine's per-point path.

    Moves the model's level, trend and time in place (the model dict belongs to its rule state) and returns the
    forecast's extreme over the horizon rounded as `forecast` rounds it — the same arithmetic in the same order, so
    the same decision — or None for a point not after the model's last one. No dict is built and no interval or
    timestamp is formatted: the evidence (`forecast`) is built from the model only when it is stored or an alarm
    needs it (`engine.refresh_forecast`).
    """
    dt = ts - model["ts"]
    if dt <= 0:
        return None
    alpha, beta, level, trend = model["alpha"], model["beta"], model["level"], model["trend"]
    pred = level + trend * dt
    new_level = pred + alpha * (value - pred)
    new_trend = beta * (new_level - level) / dt + (1 - beta) * trend
    model["level"], model["trend"], model["ts"] = new_level, new_trend, ts
    end = new_level + new_trend * horizon_s
    return float(round(max(new_level, end) if upward else min(new_level, end), 6))


def spread(model: Mapping[str, Any], horizon_s: float) -> float:
    """The 95 % half-width of the forecast `horizon_s` ahead (Holt's k-step variance, k in typical steps)."""
    alpha, beta, sigma = float(model["alpha"]), float(model["beta"]), float(model["sigma"])
    k = max(1, round(horizon_s / max(float(model["step_s"]), 1e-9)))
    m = k - 1  # Σ_{j=1}^{m} (1 + jβ)² = m + 2β·m(m+1)/2 + β²·m(m+1)(2m+1)/6
    total = m + beta * m * (m + 1) + beta * beta * m * (m + 1) * (2 * m + 1) / 6
    return Z95 * sigma * math.sqrt(1 + alpha * alpha * total)


def forecast(model: Mapping[str, Any], op: str, threshold: float, horizon_s: float) -> dict[str, Any]:
    """What the rule compares: the forecast's extreme over the horizon in the rule's direction, and when it is met.

    Holt's forecast is a line, so its extreme over [now, now + horizon] is at one of the two ends. `at` is when the
    line meets the threshold (now when it already does; the horizon's end when it does not within it).
    """
    level, trend, now = float(model["level"]), float(model["trend"]), float(model["ts"])
    end = level + trend * horizon_s
    upward = op in (">", ">=")
    value = max(level, end) if upward else min(level, end)
    beyond = level >= threshold if upward else level <= threshold
    if beyond:
        at = now
    elif trend != 0 and (threshold - level) / trend <= horizon_s and (threshold - level) / trend > 0:
        at = now + (threshold - level) / trend
    else:
        at = now + horizon_s
    half = spread(model, (at - now) or float(model["step_s"]))
    return {"value": round(value, 6), "at": datetime.fromtimestamp(at, UTC).isoformat(),
            "lower": round(value - half, 6), "upper": round(value + half, 6), "horizon_s": horizon_s,
            "threshold": threshold, "op": op}


def path(model: Mapping[str, Any], horizon_s: float, points: int = 12) -> list[tuple[float, float, float, float]]:
    """The forecast line with its 95 % band: (epoch s, value, lower, upper) from the model's last point on."""
    level, trend, now = float(model["level"]), float(model["trend"]), float(model["ts"])
    out = []
    for i in range(points + 1):
        h = horizon_s * i / points
        half = spread(model, h) if h else 0.0
        v = level + trend * h
        out.append((now + h, v, v - half, v + half))
    return out
