"""The shipped contract tells a plug-in author which description is still missing."""

from __future__ import annotations

import pytest

from connectors.testing import ConnectorContract, RetriableRecordsContract


class Undescribed(ConnectorContract, RetriableRecordsContract):
    __test__ = False  # not a contract run: pytest must not collect it


@pytest.mark.parametrize(("hook", "args"), [
    ("upsert_reply", ({},)), ("partial_reply", ({}, "k")), ("reject_credentials", (None,)), ("delivery", (None,)),
    ("serve_scan", (None, [])), ("record_id", ({},)), ("retriable_reply", ({}, "k")),
])
def test_a_hook_not_yet_written_names_itself_and_where_to_read_about_it(hook, args):
    with pytest.raises(NotImplementedError) as raised:
        getattr(Undescribed(), hook)(*args)
    assert str(raised.value) == (f"Undescribed must define {hook}() to describe your system to the contract tests "
                                 "(see the docstring of connectors.testing for each one)")
