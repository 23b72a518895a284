"""The worker process: a list of stages (inbox, evaluate, outbox, ...) over the store's queues."""
