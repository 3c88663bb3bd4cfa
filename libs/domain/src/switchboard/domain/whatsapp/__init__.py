"""WhatsApp: inbound messages, the agent's replies, sending through Twilio, idle-session summaries.

``inbound`` is what the webhook calls (store + enqueue, one transaction); ``replies``,
``sending`` and ``sessions`` are what the jobs call; ``concurrency`` bounds a business's
simultaneous reply jobs.
"""
