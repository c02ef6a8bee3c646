"""The emulator's knobs: credentials, limits, data, faults and media."""

from __future__ import annotations

from dataclasses import dataclass, field

# Outcomes a fault (or a script) can produce, besides any gateway code.
HTTP_FAULTS = ("http500", "http502", "http503")
BODY_FAULTS = ("reset", "truncated", "timeout")
CODE_FAULTS = ("4000", "4001", "4002", "4017", "5000")
# The answer is decided (and charged), then delivered oddly: mislabelled, in GB18030, late.
DELIVERY_FAULTS = ("wrong_type", "gbk", "slow_headers", "slow_body")
# What a broken proxy in front of the gateway sends instead of its answer (never charged).
PROXY_FAULTS = ("empty", "deep_json", "redirect_other", "redirect_loop", "gzip_bomb", "endless")
FAULTS = CODE_FAULTS + HTTP_FAULTS + BODY_FAULTS + DELIVERY_FAULTS + PROXY_FAULTS

EMULATOR_KEY = "test-key"
EMULATOR_SECRET = "test-secret"


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told; defaults behave like a healthy, unlimited gateway
    that answers in seconds, as the real one does (``fast=True`` for test suites)."""

    keys: dict[str, str] = field(default_factory=lambda: {EMULATOR_KEY: EMULATOR_SECRET})
    stopped: dict[str, str] = field(default_factory=dict)
    """Keys answered with a fixed account code: 4006, 4007 or 4012."""
    rate_limit: float | None = None
    """Requests per key admitted in any sliding one-second window; more answer 4008."""
    concurrency: int | None = None
    """Requests per key in flight at once; more answer 4008."""
    daily_quota: int | None = None
    """Charged calls per key before 4013."""
    balance: int | None = None
    """Charged calls the account can pay for before 4016."""
    maintenance: bool = False
    found_ratio: float = 0.9
    """Share of the id space that holds a video; the rest answer 2000."""
    faults: dict[str, float] = field(default_factory=dict)
    """Probability per outcome name in FAULTS, drawn once per admitted request."""
    latency: float | None = None
    """Seconds before every admitted answer; None: the realistic model (0 under ``fast``)."""
    jitter: float = 0.0
    """Extra seconds drawn uniformly from [0, jitter] and added to every admitted answer."""
    fast: bool = False
    """No latency unless ``latency`` is given: what a test suite wants."""
    slow_body: float = 0.0
    """Seconds spent dribbling each body out in chunks."""
    timeout_delay: float = 30.0
    """How long a 'timeout' outcome holds the request before answering 4017, a 'slow_headers'
    one before answering, and a 'slow_body' one while it dribbles its body out."""
    seed: int = 0
    video_size: int = 256 * 1024
    image_size: int = 16 * 1024
    audio_size: int = 64 * 1024
    media_faults: dict[str, float] = field(default_factory=dict)
    """Probability per media outcome: 'reset', 'http403', 'http404', 'http410', 'html', 'trickle'
    (the body one byte every tenth of a second)."""
    media_range: bool = True
    """Whether media routes honour Range requests."""
    self_contained: bool = False
    """Every media URL and share link in served items points at the emulator: offline demos."""

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {list(FAULTS)}")
        if any(not 0 <= p <= 1 for p in self.faults.values()) or sum(self.faults.values()) > 1:
            raise ValueError("fault probabilities must be in [0, 1] and sum to at most 1")
        if (self.latency is not None and self.latency < 0) or self.jitter < 0:
            raise ValueError("latency and jitter must not be negative")
        if not 0 <= self.found_ratio <= 1:
            raise ValueError("found_ratio must be in [0, 1]")
        bad_stop = {c for c in self.stopped.values() if c not in ("4006", "4007", "4012")}
        if bad_stop:
            raise ValueError(f"stopped keys take 4006, 4007 or 4012, not {sorted(bad_stop)}")
