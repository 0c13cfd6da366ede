"""ASGI entry point for uvicorn (``bcp_service.asgi:app``)."""

from bcp_service.app import create_app

app = create_app()
