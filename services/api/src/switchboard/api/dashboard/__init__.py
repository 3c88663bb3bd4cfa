"""The operator dashboard: server-rendered pages, a signed session cookie, no build step."""
