"""The consumed records of a FastStream Kafka message, for the decoder and the middlewares that
each need them (kept apart from `kafka`, which imports the tracing middleware)."""

from typing import Any

# A batch handler's one argument: the batch's aiokafka ConsumerRecords, original bytes, headers
# and offsets (parsing is the handler's, so bad records reach the DLQ). Typed loosely so that
# FastStream's argument validation passes the records through as they are.
Records = list[Any]


def consumed_records(message: Any) -> Records:
    """The aiokafka records a message carries: a batch's, or a single message's one."""
    raw = message.raw_message
    return list(raw) if isinstance(raw, (tuple, list)) else [raw]
