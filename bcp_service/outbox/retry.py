"""The retry policy. Its numbers come from settings (``BCP_SEND_*``); docs/rounds.md explains them.

- Retries last as long as the message still matters: until its validity ends (``send_validity_seconds``
  after it was queued) or its round's deadline, whichever is first, not a fixed number of tries.
  ``send_max_attempts`` / ``send_max_throttled`` are optional caps (0 = none, the default).
- Throttled (the notifier's ``throttled``: Twilio's 429 / 20429, 21611 the sender's queue is full):
  the provider refused before sending anything, so it is always safe to try again; the worker slows
  down (backpressure). These are not attempts.
- ``account_problem`` (the account or sender is refused, issue 26.1): ``pause``: the message goes
  back to the queue untouched and the worker pauses the lane (``bcp_service/lanes.py``).
  ``account_suspect`` (a 401/403 naming nothing): ``suspect``, retried; a burst pauses the lane.
- 5xx, timeouts, connection errors: the message may or may not have gone out.
- Both wait ``min(max, base * 2**(n-1))`` seconds with jitter (``send_retry_jitter`` = 1.0 is "full
  jitter": uniform in [0, backoff]), and never less than the provider's Retry-After.
- Permanent errors stop at once. A bad address (the facts ``unreachable``, ``not_this_channel``) also
  marks the contact bad so a person fixes the register; the next contact of the patient gets the
  message instead.
- After the last try the message is ``failed``, with its error code, for people to see.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from notifiers import NotifierError, PermanentSendError, TransientSendError
from notifiers.twilio_codes import ACCOUNT_PROBLEM, ACCOUNT_SUSPECT


@dataclass(frozen=True)
class Decision:
    kind: str  # "retry" | "failed" | "bad_contact" | "pause" (the lane, not the message) | "suspect"
    code: str | None
    delay: float = 0.0
    throttled: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 0  # 0: no cap, retry until the message expires
    max_throttled: int = 0
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    jitter: float = 1.0

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        return cls(
            settings.send_max_attempts,
            settings.send_max_throttled,
            settings.send_retry_base_seconds,
            settings.send_retry_max_seconds,
            settings.send_retry_jitter,
        )

    def backoff(self, n: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, n - 1))
        roll = (rng or random).random()
        wait = ceiling * (1 - self.jitter) + ceiling * self.jitter * roll
        return max(wait, retry_after or 0.0)

    def decide(
        self,
        error: BaseException,
        *,
        attempts: int,
        throttled: int,
        rng: random.Random | None = None,
        expires_in: float | None = None,
    ) -> Decision:
        """What to do after a failed send; ``attempts``/``throttled`` include the try that just failed.

        ``expires_in``: seconds until the message no longer matters (None: no limit). A retry that
        could only happen after that fails the message now, with the provider's code.
        """
        code = getattr(error, "code", None)
        fact = getattr(error, "fact", None)
        if fact == ACCOUNT_PROBLEM:
            return Decision("pause", code or "account")
        if fact == ACCOUNT_SUSPECT:
            return Decision("suspect", code or "account", self.backoff(attempts, None, rng))
        if isinstance(error, TransientSendError):
            retry_after = error.retry_after
            if error.throttled:
                if self.max_throttled and throttled + 1 > self.max_throttled:
                    return Decision("failed", code, throttled=True)
                return self._retry(code, self.backoff(throttled + 1, retry_after, rng), expires_in, throttled=True)
            if self.max_attempts and attempts >= self.max_attempts:
                return Decision("failed", code or "transient")
            return self._retry(code or "transient", self.backoff(attempts, retry_after, rng), expires_in)
        if isinstance(error, PermanentSendError):
            return Decision("bad_contact" if error.bad_contact else "failed", code or "permanent")
        if isinstance(error, NotifierError):
            # Success without an id: it may have gone out, and a retry could send it twice.
            return Decision("failed", code or "unknown")
        name = "timeout" if isinstance(error, TimeoutError) else type(error).__name__[:20]
        if self.max_attempts and attempts >= self.max_attempts:
            return Decision("failed", name)
        return self._retry(name, self.backoff(attempts, None, rng), expires_in)

    @staticmethod
    def _retry(code: str, delay: float, expires_in: float | None, *, throttled: bool = False) -> Decision:
        if expires_in is not None and delay >= expires_in:
            return Decision("failed", code, throttled=throttled)
        return Decision("retry", code, delay, throttled=throttled)
