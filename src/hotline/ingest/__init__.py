"""Getting records in: other hotlines' files as raw records, and raw records as tickets (all pure).

- `mapping`: the import mapping (YAML): how a source's columns become raw-record fields.
- `files`: a source file's rows (CSV with a header, or a JSON array of objects), checked against it.
- `records`: one row as a raw-record dict (`map_row`), or a `RowRejection` saying why not.
- `admission`: the rule intake applies to every raw record: a `TicketReceived`, or a `Rejection`.
- `classify`: how admission decides a ticket's category (hint, trained model, keywords, triage).

Intake's bulk import (`hotline.intake.bulk_import`) and the replay (`hotline.replay`) both build
on these, so a row they accept is a record intake accepts, with the deadline intake gives it.
"""
