"""Twilio-compatible simulator for development and load tests (no database)."""

from bcp_service.sms import count_segments
from bcp_service.twilio_sim.app import create_sim_app
from bcp_service.twilio_sim.config import SimConfig
from bcp_service.twilio_sim.server import (
    RunningSim,
    ThreadedServer,
    run_sim,
    start_sim_in_thread,
)
from bcp_service.twilio_sim.state import SimState

__all__ = [
    "RunningSim",
    "SimConfig",
    "SimState",
    "ThreadedServer",
    "count_segments",
    "create_sim_app",
    "run_sim",
    "start_sim_in_thread",
]
