"""Sandbox telephony: a built-in stand-in for Twilio's REST API (docs/sandbox.md).

``mode`` decides whether a process uses it (``TELEPHONY``), ``rest`` is the adapter of the
:class:`~switchboard.common.integrations.twilio_rest.TwilioRest` port, ``inbox`` keeps the
WhatsApp messages it "delivers", and ``calls`` is the small contract with the voice gateway,
whose simulated callee answers the calls it places. Nothing is imported here: the gateway,
which has no database, imports ``mode`` and ``calls`` alone.
"""
