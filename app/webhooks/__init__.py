"""Webhooks: what keyturn tells receivers, how it matches them, and how it delivers.

`outbox.emit` writes one delivery row per matching webhook in the caller's transaction; the worker's
`sender` posts them, signed, and retries failures. Below the rotation core (which emits) and the
services (which manage webhooks); nothing here knows FastAPI."""
