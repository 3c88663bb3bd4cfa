"""The ceiling for ``bench/whatsapp.py``: a FastAPI endpoint that does nothing."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/webhooks/twilio/whatsapp")
async def nothing(request: Request) -> Response:
    await request.form()  # the same form parsing as the real route, nothing else
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response></Response>')
