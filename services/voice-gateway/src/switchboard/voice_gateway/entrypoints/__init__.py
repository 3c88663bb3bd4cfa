"""HTTP and websocket entrypoints: parse, check signatures, call one handler."""
