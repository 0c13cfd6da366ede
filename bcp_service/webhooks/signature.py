"""Twilio request signatures, checked with the twilio library's own validator.

Twilio signs the URL it was configured with. Behind a proxy or a tunnel the request's Host and
scheme are not that URL, so it is rebuilt from ``webhook_base_url`` (default ``public_base_url``).
"""

from __future__ import annotations

from fastapi import Request
from twilio.request_validator import RequestValidator

from bcp_service.config import Settings

SIGNATURE_HEADER = "X-Twilio-Signature"


def signed_url(request: Request, settings: Settings) -> str:
    url = settings.webhook_base + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


async def verified_params(request: Request, settings: Settings) -> dict[str, str] | None:
    """The POST parameters when the signature is right; None when it is missing or wrong."""
    signature = request.headers.get(SIGNATURE_HEADER)
    token = settings.twilio_auth_token.get_secret_value()
    if not signature or not token:
        return None
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    if not RequestValidator(token).validate(signed_url(request, settings), params, signature):
        return None
    return params
