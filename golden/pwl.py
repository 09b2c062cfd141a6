"""NeuralMatrix piecewise-linear (PWL) approximation of nonlinear functions for the NMX PPU.

The PPU evaluates one PWL per output (docs/isa.md section 4): 16 segments, 15 breakpoints,
``s = #{j : v >= bp[j]}``, ``v = sat32(rshift(v * slope[s], pwl_shift) + icpt[s])`` on integers.
This module fits such tables in the real domain and quantises them to the 48-word hardware table.

Methods (all use at most ``segments`` pieces, default 16 = the hardware budget):

* ``"uniform"`` - the NeuralMatrix baseline: equal-width segments over the range [lo, hi] (or of a
  fixed ``granularity``, e.g. the paper's 0.25, centred on the calibration data), each segment the
  chord through the function's values at its ends.
* ``"horizontal"`` - non-uniform breakpoints chosen by dynamic programming to minimise the squared
  error weighted by the calibration distribution (95%) plus a uniform floor over [lo, hi] (5%, so
  regions with few samples are not left arbitrarily bad); each segment is the weighted
  least-squares line.  Candidate breakpoints are on a linear grid, or a geometric grid for the
  wide-range positive functions (reciprocal, rsqrt), where curvature is concentrated near lo.
* ``"vertical"`` - ``"horizontal"`` followed by intercept bias correction: every segment's
  intercept is shifted so the mean error over the calibration samples falling in that segment is
  zero (so errors do not accumulate as a bias through later layers, e.g. a softmax sum).
  :func:`vertical_correct` applies the same correction to any PWL.

Range handling.  [lo, hi] is taken from the calibration samples (the central ``coverage`` quantile
range, default 99.9%) intersected with the function's domain, or a per-function default.  Outside
[lo, hi] each side either *extends* the outer segment's line (hardware default; right for gelu,
silu, square and exp's upper side), or is *clamped* by a flat outer segment at f(lo) / f(hi), which
costs one segment per side but is the right behaviour for saturating functions (tanh, sigmoid,
erf) and for reciprocal / rsqrt / exp(x -> -inf), whose linear extension would go negative.
ReLU is always the exact 2-segment table.

Quantisation (:func:`to_hw_table`): for integer input q with real value ``x = q * in_scale`` the
table yields ~round(f(x) / out_scale).  Breakpoints become ``ceil(b / in_scale)`` so segment
selection on integers equals the float PWL's on ``q * in_scale``; slopes become
``round(slope * in_scale / out_scale * 2^pwl_shift)`` with the largest shift keeping every slope in
int32 (the product of two int32 values always fits rshift's 64-bit range); intercepts become
``round(icpt / out_scale)``.  The result is within ~1 output LSB of the float PWL.

``python -m golden.pwl`` prints the error table quoted in docs/pwl.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import special

from golden.arith import I32_MAX, I32_MIN, pwl_eval
from golden.isa import PWL_BREAKPOINTS, PWL_ICPT_WORD, PWL_SEGMENTS, PWL_SHIFT_WORD, PWL_SLOPE_WORD, SHIFT_MAX

Fn = Callable[[np.ndarray], np.ndarray]
METHODS = ("uniform", "horizontal", "vertical")


# ------------------------------------------------------------------------------------ functions
def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + special.erf(x / math.sqrt(2.0)))


def _silu(x: np.ndarray) -> np.ndarray:
    return x * special.expit(x)


@dataclass(frozen=True)
class FnInfo:
    """A target function: numpy reference, domain, outer-segment policy and candidate spacing."""

    fn: Fn
    default_range: tuple[float, float]
    outer: tuple[str, str] = ("extend", "extend")  # (left, right): "extend" | "clamp"
    spacing: str = "linear"  # candidate-breakpoint grid: "linear" | "log" (positive domains)
    domain: tuple[float, float] = (-math.inf, math.inf)
    aten: tuple[str, ...] = ()
    """torch aten op names this function implements (a hint for the compiler's op matcher)."""
    kinks: tuple[float, ...] = ()
    """Points where f has a kink (e.g. 0 for ReLU-like compositions): the horizontal fitter puts
    them exactly on its grid and in the candidate breakpoint set."""
    label: str = ""
    """Name stored in ``Pwl.name`` when this info is passed directly (a custom function)."""




FUNCTIONS: dict[str, FnInfo] = {
    "relu": FnInfo(lambda x: np.maximum(x, 0.0), (-8.0, 8.0), aten=("aten.relu.default",)),
    "gelu": FnInfo(_gelu, (-6.0, 6.0), aten=("aten.gelu.default",)),
    "silu": FnInfo(_silu, (-8.0, 8.0), aten=("aten.silu.default",)),
    "tanh": FnInfo(np.tanh, (-4.0, 4.0), ("clamp", "clamp"), aten=("aten.tanh.default",)),
    "sigmoid": FnInfo(special.expit, (-8.0, 8.0), ("clamp", "clamp"), aten=("aten.sigmoid.default",)),
    "erf": FnInfo(special.erf, (-3.0, 3.0), ("clamp", "clamp"), aten=("aten.erf.default",)),
    "exp": FnInfo(np.exp, (-16.0, 0.0), ("clamp", "extend"), aten=("aten.exp.default",)),
    "reciprocal": FnInfo(lambda x: 1.0 / x, (1.0, 64.0), ("clamp", "clamp"), "log", (0.0, math.inf),
                         aten=("aten.reciprocal.default",)),
    "rsqrt": FnInfo(lambda x: 1.0 / np.sqrt(x), (1e-2, 1e2), ("clamp", "clamp"), "log", (0.0, math.inf),
                    aten=("aten.rsqrt.default",)),
    "square": FnInfo(np.square, (-4.0, 4.0), aten=("aten.square.default", "aten.pow.Tensor_Scalar")),
}


def function(name: str) -> Fn:
    """The float64 numpy reference of a named function."""
    return FUNCTIONS[name].fn


def info_of(name: str | FnInfo) -> FnInfo:
    """``FUNCTIONS[name]``, or ``name`` itself when it is a custom :class:`FnInfo` (e.g. a compiler's
    composed epilogue ``gelu(x) * 0.5``), which every fitter accepts in place of a name."""
    return name if isinstance(name, FnInfo) else FUNCTIONS[name]


def _label(name: str | FnInfo) -> str:
    return (name.label or "custom") if isinstance(name, FnInfo) else name


# ------------------------------------------------------------------------------------------ PWL
@dataclass(frozen=True)
class Pwl:
    """A real-valued PWL: ``len(breakpoints) + 1`` segments; segment s covers
    ``breakpoints[s-1] <= x < breakpoints[s]`` (the hardware's ``#{j: x >= bp[j]}`` rule) and
    evaluates ``slopes[s] * x + intercepts[s]``.
    """

    breakpoints: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    name: str = ""
    method: str = ""
    lo: float = 0.0
    hi: float = 0.0
    meta: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bp = np.asarray(self.breakpoints, dtype=np.float64)
        assert len(self.slopes) == len(self.intercepts) == len(bp) + 1, "segments != breakpoints + 1"
        assert np.all(np.diff(bp) >= 0), "breakpoints must be non-decreasing"
        object.__setattr__(self, "breakpoints", bp)
        object.__setattr__(self, "slopes", np.asarray(self.slopes, dtype=np.float64))
        object.__setattr__(self, "intercepts", np.asarray(self.intercepts, dtype=np.float64))

    @property
    def segments(self) -> int:
        return len(self.slopes)

    def segment(self, x: np.ndarray) -> np.ndarray:
        """Segment index of each x (count of breakpoints <= x)."""
        return np.searchsorted(self.breakpoints, np.asarray(x, dtype=np.float64), side="right")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Float evaluation (used for error reports and as the quantisation reference)."""
        x = np.asarray(x, dtype=np.float64)
        s = self.segment(x)
        return self.slopes[s] * x + self.intercepts[s]


# ---------------------------------------------------------------------------------- fit helpers
def fit_range(name: str | FnInfo, samples: np.ndarray | None, coverage: float = 0.999) -> tuple[float, float]:
    """[lo, hi] for fitting: central ``coverage`` quantiles of the samples within the domain."""
    info = info_of(name)
    if samples is None or len(samples) == 0:
        return info.default_range
    s = np.asarray(samples, dtype=np.float64).ravel()
    dlo, dhi = info.domain
    s = s[(s > dlo) & (s < dhi)]
    if len(s) == 0:
        return info.default_range
    q = (1.0 - coverage) / 2.0
    lo, hi = (float(v) for v in np.quantile(s, [q, 1.0 - q]))
    if hi - lo < 1e-6 * max(1.0, abs(lo), abs(hi)):  # degenerate (constant) data: widen a little
        pad = 1e-3 * max(1.0, abs(lo))
        lo, hi = lo - pad, hi + pad
        if dlo == 0.0:
            lo = max(lo, hi * 1e-3)
    return lo, hi


def _grid(lo: float, hi: float, n: int, spacing: str) -> np.ndarray:
    if spacing == "log":
        return np.geomspace(lo, hi, n)
    return np.linspace(lo, hi, n)


def _weights(grid: np.ndarray, samples: np.ndarray | None, floor: float) -> np.ndarray:
    """Per-grid-point weights: (1 - floor) * sample histogram + floor * uniform (Lebesgue) measure."""
    edges = np.concatenate([[grid[0]], (grid[1:] + grid[:-1]) / 2.0, [grid[-1]]])
    width = np.diff(edges)
    uni = width / width.sum()
    if samples is None or len(samples) == 0:
        return uni
    s = np.asarray(samples, dtype=np.float64).ravel()
    s = s[(s >= grid[0]) & (s <= grid[-1])]
    if len(s) == 0:
        return uni
    idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(grid) - 1)
    hist = np.bincount(idx, minlength=len(grid)).astype(np.float64)
    return (1.0 - floor) * hist / hist.sum() + floor * uni


def _ls_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares line (slope, intercept); chord-like fallback for < 2 distinct points."""
    sw = w.sum()
    if sw <= 0 or len(x) < 2 or x[-1] == x[0]:
        return 0.0, float(np.average(y, weights=w if sw > 0 else None))
    mx, my = np.dot(w, x) / sw, np.dot(w, y) / sw
    dx = x - mx
    sxx = np.dot(w, dx * dx)
    if sxx <= 0:
        return 0.0, float(my)
    k = float(np.dot(w, dx * (y - my)) / sxx)
    return k, float(my - k * mx)


def _dp_breakpoints(x: np.ndarray, y: np.ndarray, w: np.ndarray, k: int, candidates: int,
                    extra: tuple[int, ...] = ()) -> np.ndarray:
    """Indices into x of the k-1 interior breakpoints minimising the total weighted LS error.

    Classic segmented least squares: prefix sums of the weighted moments give every candidate
    segment's optimal-line SSE in O(1); then a k-step DP over ``candidates`` grid positions.
    Coordinates are centred and scaled first to limit cancellation in the moment formula.
    """
    xs = (x - x.mean()) / (x.std() + 1e-300)
    ys = (y - y.mean()) / (y.std() + 1e-300)
    cand = np.unique(np.concatenate([np.linspace(0, len(x), candidates + 1).round().astype(np.int64),
                                     np.asarray(extra, dtype=np.int64)]))
    zero = np.zeros(1)
    pw, px, py = (np.concatenate([zero, np.cumsum(v)]) for v in (w, w * xs, w * ys))
    pxx, pxy, pyy = (np.concatenate([zero, np.cumsum(v)]) for v in (w * xs * xs, w * xs * ys, w * ys * ys))
    a, b = cand[:, None], cand[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        sw, sx, sy = pw[b] - pw[a], px[b] - px[a], py[b] - py[a]
        sxx, sxy, syy = pxx[b] - pxx[a], pxy[b] - pxy[a], pyy[b] - pyy[a]
        vxx = sxx - sx * sx / sw
        vxy = sxy - sx * sy / sw
        vyy = syy - sy * sy / sw
        sse = vyy - np.where(vxx > 1e-300, vxy * vxy / vxx, 0.0)
    sse = np.where(sw > 0, np.maximum(sse, 0.0), 0.0)
    sse = np.where(b > a, sse, np.inf)
    m = len(cand)
    best = sse[0].copy()  # best[j]: cost of covering [0, cand[j]) with 1 segment
    back = np.zeros((k, m), dtype=np.int64)
    for seg in range(1, k):
        tot = best[:, None] + sse
        back[seg] = np.argmin(tot, axis=0)
        best = tot[back[seg], np.arange(m)]
    # Walk back from the end (cand[-1] = len(x)); zero-length segments are impossible (inf cost),
    # so the result has exactly k segments when m > k.
    cuts = []
    j = m - 1
    for seg in range(k - 1, 0, -1):
        j = int(back[seg, j])
        cuts.append(int(cand[j]))
    return np.array(sorted(cuts), dtype=np.int64)


def _assemble(info: FnInfo, bps: np.ndarray, slopes: list[float], icpts: list[float],
              lo: float, hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the flat clamp segments requested by ``info.outer`` around the interior pieces."""
    f = info.fn
    bp, k, c = list(bps), list(slopes), list(icpts)
    if info.outer[0] == "clamp":
        bp, k, c = [lo, *bp], [0.0, *k], [float(f(np.array(lo))), *c]
    if info.outer[1] == "clamp":
        bp, k, c = [*bp, hi], [*k, 0.0], [*c, float(f(np.array(hi)))]
    return np.array(bp), np.array(k), np.array(c)


def _interior_budget(info: FnInfo, segments: int) -> int:
    n = segments - sum(side == "clamp" for side in info.outer)
    assert n >= 1, f"{segments} segments leave no interior segment"
    return n


def _exact_relu() -> Pwl:
    return Pwl(np.array([0.0]), np.array([0.0, 1.0]), np.array([0.0, 0.0]), "relu", "exact", 0.0, 0.0)


# ------------------------------------------------------------------------------------ fitters
def fit_uniform(name: str | FnInfo, samples: np.ndarray | None = None, segments: int = PWL_SEGMENTS,
                lo: float | None = None, hi: float | None = None, granularity: float | None = None,
                coverage: float = 0.999) -> Pwl:
    """Uniform breakpoints and chord interpolation (the NeuralMatrix baseline).

    With ``granularity`` g the interior segments have width g and the window (interior budget x g)
    is centred on the calibration median (middle of [lo, hi] without samples), snapped to a
    multiple of g; otherwise the interior budget splits [lo, hi] evenly.
    """
    if name == "relu":
        return _exact_relu()
    info = info_of(name)
    rlo, rhi = fit_range(name, samples, coverage)
    lo, hi = rlo if lo is None else lo, rhi if hi is None else hi
    n = _interior_budget(info, segments)
    if granularity is not None:
        mid = (lo + hi) / 2.0 if samples is None or len(samples) == 0 else float(np.median(samples))
        lo = math.floor((mid - n * granularity / 2.0) / granularity) * granularity
        if info.domain[0] == 0.0:
            lo = max(lo, granularity)
        hi = lo + n * granularity
    knots = np.linspace(lo, hi, n + 1)
    fk = info.fn(knots)
    slopes = list((fk[1:] - fk[:-1]) / (knots[1:] - knots[:-1]))
    icpts = list(fk[:-1] - np.array(slopes) * knots[:-1])
    bp, k, c = _assemble(info, knots[1:-1], slopes, icpts, lo, hi)
    return Pwl(bp, k, c, _label(name), "uniform", lo, hi, {"granularity": granularity or (hi - lo) / n})


def fit_horizontal(name: str | FnInfo, samples: np.ndarray | None = None, segments: int = PWL_SEGMENTS,
                   lo: float | None = None, hi: float | None = None, coverage: float = 0.999,
                   floor: float = 0.05, grid_points: int = 4096, candidates: int = 384) -> Pwl:
    """Calibration-weighted optimal breakpoints (DP) with weighted least-squares segments."""
    if name == "relu":
        return _exact_relu()
    info = info_of(name)
    rlo, rhi = fit_range(name, samples, coverage)
    lo, hi = rlo if lo is None else lo, rhi if hi is None else hi
    n = _interior_budget(info, segments)
    x = _grid(lo, hi, grid_points, info.spacing)
    extra = []
    for kink in info.kinks:  # put kinks exactly on the grid and into the candidate set
        if lo < kink < hi:
            i = int(np.clip(np.searchsorted(x, kink), 1, len(x) - 2))
            x[i] = kink
            extra.append(i)
    y = info.fn(x)
    w = _weights(x, samples, floor)
    cuts = (_dp_breakpoints(x, y, w, n, candidates, tuple(extra)) if n > 1
            else np.array([], dtype=np.int64))
    bounds = [0, *cuts.tolist(), len(x)]
    slopes, icpts = [], []
    for a, b in itertools.pairwise(bounds):
        k, c = _ls_line(x[a:b], y[a:b], w[a:b])
        slopes.append(k)
        icpts.append(c)
    bp, k_, c_ = _assemble(info, x[cuts], slopes, icpts, lo, hi)
    return Pwl(bp, k_, c_, _label(name), "horizontal", lo, hi)


def vertical_correct(pwl: Pwl, samples: np.ndarray, fn: Fn | None = None) -> Pwl:
    """Shift each segment's intercept so the mean error over the samples in it is zero.

    Segments without samples are left unchanged.  The result may be slightly discontinuous.
    """
    f = fn or FUNCTIONS[pwl.name].fn
    s = np.asarray(samples, dtype=np.float64).ravel()
    err = pwl(s) - f(s)
    seg = pwl.segment(s)
    cnt = np.bincount(seg, minlength=pwl.segments)
    tot = np.bincount(seg, weights=err, minlength=pwl.segments)
    shift = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
    method = pwl.method if pwl.method == "exact" else ("vertical" if pwl.method == "horizontal"
                                                         else f"{pwl.method}+vertical")
    return replace(pwl, intercepts=pwl.intercepts - shift, method=method)


def fit(name: str | FnInfo, samples: np.ndarray | None = None, method: str = "vertical",
        segments: int = PWL_SEGMENTS, **kw: float) -> Pwl:
    """Fit ``name`` with ``method`` ("uniform" | "horizontal" | "vertical") under ``segments``.

    ``samples`` are calibration inputs of the op (any shape); they set [lo, hi] and the weights.
    ``"vertical"`` without samples equals ``"horizontal"``.  ``name`` may also be a custom
    :class:`FnInfo` (any scalar function with its own range / outer policy / spacing / kinks).
    Extra keywords go to the fitter
    (lo, hi, coverage; granularity for uniform; floor, grid_points, candidates for horizontal).
    """
    if name == "relu":
        return _exact_relu()
    assert 2 <= segments <= PWL_SEGMENTS, segments
    if method == "uniform":
        return fit_uniform(name, samples, segments, **kw)  # type: ignore[arg-type]
    h = fit_horizontal(name, samples, segments, **kw)  # type: ignore[arg-type]
    if method == "horizontal":
        return h
    if method == "vertical":
        if samples is None or len(np.ravel(samples)) == 0:
            return replace(h, method="vertical")
        return vertical_correct(h, samples, info_of(name).fn)
    raise ValueError(method)


# ------------------------------------------------------------------------------- hardware table
def to_hw_table(pwl: Pwl, in_scale: float, out_scale: float) -> np.ndarray:
    """The 48-word PPU table (int32): 15 breakpoints, pwl_shift, 16 slopes, 16 intercepts.

    For integer q (real x = q * in_scale), ``golden.arith.pwl_eval(q, table)`` ~
    ``round(pwl(x) / out_scale)`` (within ~1 LSB).  Unused breakpoints are 2^31-1 and unused
    segments repeat the last segment, so even v = 2^31-1 evaluates the last real segment.
    """
    assert in_scale > 0 and out_scale > 0
    k = pwl.segments
    assert k <= PWL_SEGMENTS, f"{k} segments exceed the hardware's {PWL_SEGMENTS}"
    bp = np.ceil(pwl.breakpoints / in_scale)
    bp = np.clip(bp, I32_MIN, I32_MAX).astype(np.int64)
    slope_q = pwl.slopes * (in_scale / out_scale)  # output LSB per input LSB
    icpt = np.clip(np.round(pwl.intercepts / out_scale), I32_MIN, I32_MAX).astype(np.int64)
    mx = float(np.max(np.abs(slope_q)))
    if mx == 0.0:
        shift = 0
    else:
        # largest shift with round(|slope| * 2^shift) <= I32_MAX
        shift = int(min(SHIFT_MAX, max(0, math.floor(math.log2(I32_MAX / mx)))))
        while shift > 0 and round(mx * 2.0**shift) > I32_MAX:
            shift -= 1
        if round(mx * 2.0**shift) > I32_MAX:
            raise ValueError(f"slope {mx} output LSB per input LSB does not fit int32 even with shift 0")
    slope_i = np.round(slope_q * 2.0**shift).astype(np.int64)
    table = np.zeros(3 * PWL_SEGMENTS, dtype=np.int64)
    table[:PWL_BREAKPOINTS] = I32_MAX
    table[:k - 1] = bp
    table[PWL_SHIFT_WORD] = shift
    table[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = slope_i[-1]
    table[PWL_SLOPE_WORD:PWL_SLOPE_WORD + k] = slope_i
    table[PWL_ICPT_WORD:PWL_ICPT_WORD + PWL_SEGMENTS] = icpt[-1]
    table[PWL_ICPT_WORD:PWL_ICPT_WORD + k] = icpt
    return table.astype(np.int32)


def hw_eval(table: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The PPU's PWL stage on int32 inputs (``golden.arith.pwl_eval``), as int64."""
    return pwl_eval(np.asarray(q, dtype=np.int64), np.asarray(table, dtype=np.int64))


def fit_hw(name: str | FnInfo, samples: np.ndarray | None, in_scale: float, out_scale: float,
           method: str = "vertical", segments: int = PWL_SEGMENTS, **kw: float) -> tuple[Pwl, np.ndarray]:
    """Fit and quantise in one call: returns (float PWL, 48-word int32 table)."""
    p = fit(name, samples, method, segments, **kw)
    return p, to_hw_table(p, in_scale, out_scale)


# ------------------------------------------------------------------------------------ reporting
def calibration_samples(name: str, n: int = 20_000, seed: int = 0) -> np.ndarray:
    """Representative op inputs for the report (and tests), where each op occurs in the zoo.

    gelu: BERT FFN pre-activations ~ N(-0.3, 1.2^2); silu ~ N(0, 2^2); tanh (BERT pooler)
    ~ N(0, 0.8^2); sigmoid ~ N(0, 2.5^2); erf ~ N(0, 1); exp: softmax inputs after max subtraction
    = -Gamma(1.5, 2.5) (most mass near 0, long negative tail); reciprocal: softmax denominators,
    log-uniform on [1, 64]; rsqrt: layer-norm variances (+eps), log-normal around 0.3 spanning
    ~[1e-2, 10]; square: layer-norm centred inputs ~ N(0, 1); relu ~ N(0, 1).
    """
    rng = np.random.default_rng(seed)
    gen: dict[str, Callable[[], np.ndarray]] = {
        "relu": lambda: rng.normal(0.0, 1.0, n),
        "gelu": lambda: rng.normal(-0.3, 1.2, n),
        "silu": lambda: rng.normal(0.0, 2.0, n),
        "tanh": lambda: rng.normal(0.0, 0.8, n),
        "sigmoid": lambda: rng.normal(0.0, 2.5, n),
        "erf": lambda: rng.normal(0.0, 1.0, n),
        "exp": lambda: -rng.gamma(1.5, 2.5, n),
        "reciprocal": lambda: np.exp(rng.uniform(0.0, math.log(64.0), n)),
        "rsqrt": lambda: np.exp(rng.normal(math.log(0.3), 1.2, n)) + 1e-5,
        "square": lambda: rng.normal(0.0, 1.0, n),
    }
    return gen[name]()


@dataclass(frozen=True)
class ErrorRow:
    """Errors of one fitted PWL: over the calibration samples, and over a dense grid on [lo, hi]."""

    name: str
    method: str
    segments: int
    lo: float
    hi: float
    cal_max_abs: float
    cal_mean: float
    cal_mean_abs: float
    grid_max_abs: float
    grid_mean_abs: float
    hw_quant_lsb: float
    """Max |hardware table output - pwl(x)/out_scale| over the grid: the quantisation error alone,
    in output LSBs, with in_scale = max(|lo|, |hi|) / 2^15 and out_scale = max|f| on [lo, hi] / 127
    (an int8 output)."""
    hw_total_lsb: float
    """Max |hardware table output - round(f(x)/out_scale)| over the grid: what an int8 consumer sees."""


def errors(pwl: Pwl, samples: np.ndarray, grid_points: int = 20_001) -> ErrorRow:
    f = FUNCTIONS[pwl.name].fn
    s = np.asarray(samples, dtype=np.float64).ravel()
    e = pwl(s) - f(s)
    lo, hi = (pwl.lo, pwl.hi) if pwl.hi > pwl.lo else (float(s.min()), float(s.max()))
    g = np.linspace(lo, hi, grid_points)
    eg = pwl(g) - f(g)
    in_scale = max(abs(lo), abs(hi)) / 2.0**15
    out_scale = float(np.max(np.abs(f(g)))) / 127.0
    table = to_hw_table(pwl, in_scale, out_scale)
    q = np.unique(np.round(g / in_scale).astype(np.int64))
    hw = hw_eval(table, q)
    xq = q * in_scale
    return ErrorRow(pwl.name, pwl.method, pwl.segments, lo, hi, float(np.abs(e).max()), float(e.mean()),
                    float(np.abs(e).mean()), float(np.abs(eg).max()), float(np.abs(eg).mean()),
                    float(np.abs(hw - pwl(xq) / out_scale).max()),
                    float(np.abs(hw - np.round(f(xq) / out_scale)).max()))


def report(names: list[str] | None = None, segments: int = PWL_SEGMENTS, n: int = 20_000,
           granularity: float | None = None) -> list[ErrorRow]:
    """Error rows for every function x method on :func:`calibration_samples`."""
    rows = []
    for name in names or list(FUNCTIONS):
        s = calibration_samples(name, n)
        for method in METHODS:
            kw: dict[str, float] = {}
            if method == "uniform" and granularity:
                kw["granularity"] = granularity
            rows.append(errors(fit(name, s, method, segments, **kw), s))
            if name == "relu":
                break
    return rows


def format_report(rows: list[ErrorRow]) -> str:
    head = ("| function | method | seg | range [lo, hi] | cal max abs | cal mean | cal mean abs "
            "| grid max abs | grid mean abs | hw quant (LSB) | hw vs f (int8 LSB) |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r.name} | {r.method} | {r.segments} | [{r.lo:.3g}, {r.hi:.3g}] "
                     f"| {r.cal_max_abs:.2e} | {r.cal_mean:+.1e} | {r.cal_mean_abs:.2e} "
                     f"| {r.grid_max_abs:.2e} | {r.grid_mean_abs:.2e} "
                     f"| {r.hw_quant_lsb:.2f} | {r.hw_total_lsb:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="PWL approximation error table (docs/pwl.md)")
    ap.add_argument("functions", nargs="*", help=f"subset of {', '.join(FUNCTIONS)}")
    ap.add_argument("--segments", type=int, default=PWL_SEGMENTS)
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--granularity", type=float, default=None,
                    help="uniform baseline with fixed segment width (e.g. 0.25 as in the paper)")
    a = ap.parse_args(argv)
    print(format_report(report(a.functions or None, a.segments, a.samples, a.granularity)))


if __name__ == "__main__":
    main()
