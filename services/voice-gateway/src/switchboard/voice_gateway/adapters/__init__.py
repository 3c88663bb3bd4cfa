"""Real adapters of the gateway's ports: the API, OpenAI, the offline agent, Google, Twilio,
and the event publishers (RabbitMQ with its spool, the in-process bus).
"""
