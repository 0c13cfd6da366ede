"""The retry policy. Its numbers come from settings (``BCP_SEND_*``); docs/rounds.md explains them.

- 429 / Twilio 20429: the provider refused before sending anything, so it is always safe to try
  again. These count against ``send_max_throttled`` (default 40), not against attempts.
- 5xx, timeouts, connection errors: the message may or may not have gone out. Retried up to
  ``send_max_attempts`` tries in all (default 6).
- Both wait ``min(max, base * 2**(n-1))`` seconds with jitter (``send_retry_jitter`` = 1.0 is "full
  jitter": uniform in [0, backoff]), and never less than the provider's Retry-After.
- Permanent errors stop at once. A bad number (21211, 21614, 21610) also marks the contact bad so
  a person fixes the register; the next contact of the patient gets the message instead.
- After the last try the message is ``failed``, with its error code, for people to see.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from notifiers import NotifierError, PermanentSendError, TransientSendError

RATE_LIMIT_CODES = frozenset({"20429"})


@dataclass(frozen=True)
class Decision:
    kind: str  # "retry" | "failed" | "bad_contact"
    code: str | None
    delay: float = 0.0
    throttled: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_throttled: int = 40
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    jitter: float = 1.0

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        return cls(settings.send_max_attempts, settings.send_max_throttled, settings.send_retry_base_seconds,
                   settings.send_retry_max_seconds, settings.send_retry_jitter)

    def backoff(self, n: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, n - 1))
        roll = (rng or random).random()
        wait = ceiling * (1 - self.jitter) + ceiling * self.jitter * roll
        return max(wait, retry_after or 0.0)

    def decide(self, error: BaseException, *, attempts: int, throttled: int, rng: random.Random | None = None) -> Decision:
        """What to do after a failed send; ``attempts``/``throttled`` include the try that just failed."""
        code = getattr(error, "code", None)
        if isinstance(error, TransientSendError):
            retry_after = error.retry_after
            if code in RATE_LIMIT_CODES:
                if throttled + 1 > self.max_throttled:
                    return Decision("failed", code, throttled=True)
                return Decision("retry", code, self.backoff(throttled + 1, retry_after, rng), throttled=True)
            if attempts >= self.max_attempts:
                return Decision("failed", code or "transient")
            return Decision("retry", code or "transient", self.backoff(attempts, retry_after, rng))
        if isinstance(error, PermanentSendError):
            return Decision("bad_contact" if error.bad_contact else "failed", code or "permanent")
        if isinstance(error, NotifierError):
            # Success without an id: it may have gone out, and a retry could send it twice.
            return Decision("failed", code or "unknown")
        if isinstance(error, TimeoutError):
            if attempts >= self.max_attempts:
                return Decision("failed", "timeout")
            return Decision("retry", "timeout", self.backoff(attempts, None, rng))
        if attempts >= self.max_attempts:
            return Decision("failed", type(error).__name__[:20])
        return Decision("retry", type(error).__name__[:20], self.backoff(attempts, None, rng))
