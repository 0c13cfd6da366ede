"""The yardstick: a bare FastAPI app served exactly as the API is (uvicorn, same workers, loop and
HTTP parser), so a path's throughput can be stated as a share of what the server setup itself
manages on this machine in the same run.

``POST /bare/form`` reads a form body the size of a Twilio webhook and answers 204; ``GET /bare``
answers a small JSON document. No database, no templates, no signature.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI(title="bare", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/bare")
async def bare_get() -> dict:
    return {"status": "ok"}


@app.post("/bare/form")
async def bare_form(request: Request) -> Response:
    form = await request.form()
    return Response(status_code=204 if form else 400)


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
