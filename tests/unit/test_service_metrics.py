"""Dead-letter reasons become bounded labels that never quote what a sender wrote."""

import pytest

from hotline.runtime.service_metrics import reason_label


@pytest.mark.parametrize(("reason", "field", "label"), [
    ("not JSON: Expecting value: line 1 column 5 (char 4)", None, "not json"),
    ("record is 70000 bytes, limit 65536", None, "record is N bytes, limit N"),
    ("Field required", "received_at", "received_at: field required"),
    ("Input should be 'phone', 'web' or 'app'", "channel", "channel: input should be"),
    ("Value error, unknown time zone 'Mars/13800001234'", "timezone", "timezone: value error, unknown time zone"),
    ("String should have at most 64 characters", "demands.3.caller.name",
     "demands.N.caller.name: string should have at most N characters"),
    ("no dispatched ticket with this id", "ticket_id", "ticket_id: no dispatched ticket with this id"),
    ("", None, "unknown"),
])
def test_reason_labels_keep_the_fixed_words_only(reason, field, label):
    assert reason_label(reason, field) == label


def test_a_long_reason_is_cut():
    assert len(reason_label("x" * 500, "f" * 500)) <= 40 + 2 + 60
