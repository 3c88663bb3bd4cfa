"""Real adapters of the gateway's ports: the API, OpenAI, the offline agent, Google, Twilio."""
