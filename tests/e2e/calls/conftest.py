from tests.integration.conftest import (  # noqa: F401 - the real-services fixtures
    admin_database_url,
    amqp_url,
    pg_rabbit,
    pg_url,
    start_service,
)
