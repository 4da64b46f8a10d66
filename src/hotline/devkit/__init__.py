"""The dev kit: what tests, the fault suite and the bench need to run the system beside others on
one stack (docs/testing.md, "The dev kit").

- `Namespace`: a topic prefix and a database of their own; created, cleaned up, and the
  environment a service process needs to use them.
- `ServiceProcess`: `hotline serve <name>` as a child process that dies with its parent; waited
  for until healthy, stopped (SIGTERM, then SIGKILL) or killed.
- `read_to_end`, `end_offsets`, `lagging`, `wait_drained`: a topic read to its end offsets, and
  consumer groups committed to the end of their topics.
- `raw_record`: a valid raw complaint record.

It uses the core's dependencies only, and imports no service.
"""

from hotline.devkit.namespace import Namespace, Stack, StackAddress
from hotline.devkit.process import (
    ServiceDidNotStart,
    ServiceProcess,
    free_port,
    hotline_command,
    parent_death_signal,
    stop_all,
    wait_all_healthy,
)
from hotline.devkit.reading import end_offsets, lagging, partitions_of, read_to_end, wait_drained
from hotline.devkit.records import encoded, raw_record

__all__ = [
    "Namespace", "ServiceDidNotStart", "ServiceProcess", "Stack", "StackAddress", "encoded", "end_offsets",
    "free_port", "hotline_command", "lagging", "parent_death_signal", "partitions_of", "raw_record",
    "read_to_end", "stop_all", "wait_all_healthy", "wait_drained",
]
