"""Everything event-shaped: the contract, the Redis-Streams broker, triggers, dispatch, the sink."""
