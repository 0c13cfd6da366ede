"""When a simulated patient answers: the shape real safety-check drills show.

Most answers come in the first few minutes and a long tail follows (the 2018 drill of 84,000 people
had its mode at 2 minutes). A log-normal delay with its mode at ``answer_curve_mode_seconds`` and
``ANSWER_SIGMA`` = 0.8 gives: mode 2 min, median about 3.8 min, 90 % within about 10.5 min, a few
after half an hour. ``answer_speed`` compresses it (10 = ten times faster). With the mode set to 0
the fixed ``answer_delay_ms`` applies, as load tests want.
"""

from __future__ import annotations

import math
import random

from bcp_service.twilio_sim.config import SimConfig

ANSWER_SIGMA = 0.8
MAX_DELAY_SECONDS = 3 * 3600  # a simulated patient who has not answered in three hours never will


def answer_delay_seconds(config: SimConfig, rng: random.Random) -> float:
    if config.answer_curve_mode_seconds <= 0:
        return config.answer_delay_ms / 1000
    # A log-normal's mode is exp(mu - sigma²): put it where the drills saw it.
    mu = math.log(config.answer_curve_mode_seconds) + ANSWER_SIGMA**2
    return min(rng.lognormvariate(mu, ANSWER_SIGMA), MAX_DELAY_SECONDS) / config.answer_speed
