"""Poison isolation: a record that fails where the others do not becomes a dead letter, so it can
never stop its partition.

A batch handler that raises is retried record by record; a record that still fails after a few
attempts goes to `hotline.dlq` with the reason, and the batch's other records are processed. Only
failures that may heal by themselves (the store or the broker unreachable, a timeout) rewind the
whole batch for redelivery, as before, for as long as they last. Handlers are idempotent, so
processing a record again after its batch failed half-way changes nothing.
"""

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, PyMongoError, WaitQueueTimeoutError

from hotline.runtime.records import Records

log = logging.getLogger(__name__)
# Attempts per record once its batch has failed, and the pauses between them: a failure that
# repeats three times over about a second is the record's, not a passing hiccup.
RECORD_ATTEMPTS = 3
RECORD_PAUSES_S = (0.2, 0.8)
REASON_LIMIT = 300  # characters of the exception's text a dead letter's reason keeps

Handler = Callable[[Records], Awaitable[None]]


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may heal by itself, so the batch should wait and be redelivered whole."""
    if isinstance(exc, (ConnectionFailure, WaitQueueTimeoutError, KafkaError, OSError, TimeoutError)):
        return True
    return isinstance(exc, PyMongoError) and (exc.timeout or exc.has_error_label("RetryableWriteError"))


def reason_of(exc: BaseException) -> str:
    """A dead letter's reason: the failure's type and the start of its text."""
    text = str(exc)
    return f"{type(exc).__name__}: {text[:REASON_LIMIT]}" if text else type(exc).__name__


def isolating(handler: Handler, publisher, what: str) -> Handler:
    """`handler` with poison isolation; `publisher` (a `runtime.kafka.Publisher`) sends the letters."""

    @functools.wraps(handler)
    async def isolated(records: Records) -> None:
        try:
            await handler(records)
            return
        except Exception as exc:
            if is_transient(exc):
                raise
            # Not the record's content in the log (it may hold personal data): where it is.
            log.warning("%s failed (%s); trying its %d records one by one", what, type(exc).__name__, len(records))
        letters = []
        for record in records:
            failure = await _attempt(handler, record)
            if failure is not None:
                log.error("%s: record %s[%d]@%d dead-lettered after %d attempts (%s)", what, record.topic,
                          record.partition, record.offset, RECORD_ATTEMPTS, type(failure).__name__)
                letters.append(publisher.dead_letter(record, reason=reason_of(failure)))
        await publisher.publish_all(letters)

    return isolated


async def _attempt(handler: Handler, record) -> Exception | None:
    """Process one record; the failure that remains after every attempt, or None."""
    for attempt in range(RECORD_ATTEMPTS):
        try:
            await handler([record])
            return None
        except Exception as exc:
            if is_transient(exc):
                raise
            if attempt + 1 == RECORD_ATTEMPTS:
                return exc
            await asyncio.sleep(RECORD_PAUSES_S[min(attempt, len(RECORD_PAUSES_S) - 1)])
    return None
