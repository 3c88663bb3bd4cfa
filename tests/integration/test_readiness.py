"""``/ready`` follows the broker: 503 while RabbitMQ is stopped, 200 once it is back."""

from __future__ import annotations

from fastapi.testclient import TestClient

from switchboard.api.app import create_app
from tests.support import services


def test_ready_turns_503_while_rabbitmq_is_stopped_and_200_after(pg_rabbit) -> None:
    with TestClient(create_app(pg_rabbit)) as client:
        assert client.get("/ready").status_code == 200
        try:
            services.rabbit_stop()
            response = client.get("/ready")
            assert response.status_code == 503
            assert response.json()["checks"] == {"database": True, "broker": False}
        finally:
            services.rabbit_start()
        assert client.get("/ready").status_code == 200


def test_ready_is_503_when_the_database_is_unreachable(pg_rabbit) -> None:
    from tests.support.environment import configured

    with configured(
        database_url="postgresql://nobody@127.0.0.1:1/none", amqp_url=pg_rabbit.amqp_url
    ) as settings:
        with TestClient(create_app(settings)) as client:
            response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False
