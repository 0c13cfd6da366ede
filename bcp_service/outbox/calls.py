"""The URLs of a voice call, kept under this name for its importers: they live in the voice channel's folder."""

from bcp_service.channels.voice.urls import VOICE_PATH, call_status_url, fallback_url, twiml_url

__all__ = ["VOICE_PATH", "call_status_url", "fallback_url", "twiml_url"]
