"""The end-to-end tier uses the integration tier's real PostgreSQL, RabbitMQ and processes."""

from tests.integration.conftest import (  # noqa: F401 - fixtures, re-exported
    admin_database_url,
    amqp_url,
    pg,
    pg_rabbit,
    pg_url,
    start_service,
    start_worker,
)
