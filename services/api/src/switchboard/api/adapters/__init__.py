"""The API's PostgreSQL adapters of the domain's ports (the WhatsApp webhook's store)."""
