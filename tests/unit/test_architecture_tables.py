"""docs/architecture.md's function, table and queue tables: generated from the resource spec, and current."""

from __future__ import annotations

import dataclasses

import pytest

from infrastructure.resource_spec import SPEC, FunctionSpec, QueueSource, QueueSpec, TableAccess
from scripts import architecture_tables

PROSE_BEFORE = "# Architecture\n\nWritten by hand.\n\n"
PROSE_AFTER = "\n\nAlso written by hand.\n"


def _document(region: str) -> str:
    return f"{PROSE_BEFORE}{architecture_tables.BEGIN}\n{region}\n{architecture_tables.END}{PROSE_AFTER}"


def _rows(table: str, first_cell: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith(f"| `{first_cell}` |")]


def _split(rendered: str) -> tuple[str, str, str]:
    """The function, table and queue tables (a function and a table may share an id: `devices`)."""
    functions, tables, queues = rendered.split("\n\n")
    return functions, tables, queues


def test_the_committed_tables_are_what_the_spec_generates():
    # Given the committed document
    committed = architecture_tables.DOCUMENT.read_text(encoding="utf-8")
    # When its tables are generated again from the spec
    regenerated = architecture_tables.rewrite(committed, architecture_tables.render_tables())
    # Then nothing changes (else: run `python -m scripts.architecture_tables` and commit)
    assert regenerated == committed, "stale: run `python -m scripts.architecture_tables`"


def test_every_function_table_and_queue_of_the_spec_has_exactly_one_row():
    # When the tables are rendered from the spec
    functions, tables, queues = _split(architecture_tables.render_tables())
    # Then each function, table and queue is named at the start of exactly one row of its table
    for table, resources in [(functions, SPEC.functions), (tables, SPEC.tables), (queues, SPEC.queues)]:
        for resource in resources:
            assert len(_rows(table, resource.id)) == 1, resource.id
        assert len(table.splitlines()) == 2 + len(resources)


def test_a_function_row_shows_its_routes_grants_and_event_source():
    # Given the spec's upload outbox recovery and its device registration function
    functions, _, _ = _split(architecture_tables.render_tables())
    # When their rows are read
    (recovery,) = _rows(functions, "upload-outbox-recovery")
    (devices,) = _rows(functions, "devices")
    # Then the trigger, the tables, the queues and the keys come from the spec
    assert "`upload-outbox-failures` queue, batch 10" in recovery
    assert "reads `uploads` and its stream" in recovery
    assert "`measurements`" in recovery
    assert "`POST /v1/devices`, `DELETE /v1/devices/{device_id}`" in devices
    assert "signs with `device-credentials`; MACs with `citizen-pseudonym`" in devices


def test_a_function_added_to_the_spec_appears_with_its_queue_as_consumer():
    # Given a spec with another consumer of the measurements queue in place of the evaluator
    consumer = FunctionSpec(
        id="alarm-evaluation",
        handler="functions.alarms.handler.handler",
        description="Evaluates measurements against the episode's thresholds",
        tables=(TableAccess("episodes", ("Query",)),),
        queue_source=QueueSource(queue="measurements", batch_size=5),
        timeout_seconds=20,
    )
    others = tuple(function for function in SPEC.functions if function.id != "alarm-evaluation")
    spec = dataclasses.replace(SPEC, functions=(*others, consumer))
    # When the tables are rendered from it
    functions, _, queues = _split(architecture_tables.render_tables(spec))
    # Then the function has its row, and the queue names its consumer and the visibility timeout it implies
    (function_row,) = _rows(functions, "alarm-evaluation")
    assert "`measurements` queue, batch 5" in function_row
    assert "reads `episodes`" in function_row
    (queue_row,) = _rows(queues, "measurements")
    assert "| `alarm-evaluation` | 120 s |" in queue_row


def test_rewrite_replaces_only_the_region_between_the_markers():
    # Given a document whose generated region holds an outdated table
    document = _document("| function (spec id) | old |")
    # When it is rewritten with the current tables
    rewritten = architecture_tables.rewrite(document, "NEW TABLES")
    # Then the prose on both sides is untouched and the region holds only the new tables
    assert rewritten == _document("\nNEW TABLES\n")
    # And rewriting again changes nothing
    assert architecture_tables.rewrite(rewritten, "NEW TABLES") == rewritten


@pytest.mark.parametrize(
    "document",
    [
        PROSE_BEFORE,
        f"{PROSE_BEFORE}{architecture_tables.BEGIN}\n",
        f"{architecture_tables.END}\n{architecture_tables.BEGIN}\n",
    ],
    ids=["no markers", "no end marker", "markers out of order"],
)
def test_a_document_without_both_markers_in_order_is_refused(document):
    # When a document lacking a proper region is rewritten
    # Then it is refused, naming the markers, rather than tables being appended somewhere
    with pytest.raises(architecture_tables.MarkersMissing, match="generated by"):
        architecture_tables.rewrite(document, "TABLES")


def test_check_fails_with_a_clear_message_when_the_tables_are_stale(tmp_path, capsys):
    # Given a document whose queue table lacks a queue the spec has
    stale_spec = dataclasses.replace(SPEC, queues=(*SPEC.queues[:-1],))
    stale = tmp_path / "architecture.md"
    stale.write_text(_document(architecture_tables.render_tables(stale_spec)), encoding="utf-8")
    # When the check runs against it
    status = architecture_tables.main(["--check", "--document", str(stale)])
    # Then it fails, shows the missing row and says how to fix it
    assert status == 1
    error = capsys.readouterr().err
    assert f"`{SPEC.queues[-1].id}`" in error
    assert "python -m scripts.architecture_tables" in error
    # And after regenerating, the check passes and the prose is kept
    assert architecture_tables.main(["--document", str(stale)]) == 0
    assert architecture_tables.main(["--check", "--document", str(stale)]) == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith(PROSE_BEFORE) and text.endswith(PROSE_AFTER)


def test_a_cell_holding_a_pipe_does_not_split_the_row():
    # Given a queue-consuming function whose description holds a pipe
    function = FunctionSpec(
        id="piped", handler="functions.piped.handler.handler", description="reads a | b",
        queue_source=QueueSource(queue="piped-queue"),
    )
    spec = dataclasses.replace(SPEC, functions=(function,), queues=(QueueSpec(id="piped-queue"),), routes=())
    # When the tables are rendered
    functions, _, _ = _split(architecture_tables.render_tables(spec))
    (row,) = _rows(functions, "piped")
    # Then the pipe is escaped and the row keeps its seven cells
    assert "reads a \\| b" in row
    assert len(row.replace("\\|", "").split("|")) == 7 + 2
