"""The leaf of Bridge: errors, settings reading, time, schema helpers. The only part of `bridge` that
connectors import, and it imports nothing else of Bridge."""
