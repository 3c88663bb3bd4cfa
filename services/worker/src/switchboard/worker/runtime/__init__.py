"""The worker's job runtime: the ledger's write path, its Dramatiq middleware and consumer.

``install_runtime`` adds it to a broker; ``worker_broker`` builds the broker a worker process
consumes from (on RabbitMQ, one whose consumers write success marks in batches).
"""
