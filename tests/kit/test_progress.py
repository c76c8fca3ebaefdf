"""kit.progress: worker and demo lines read as labelled counts, never raw dicts."""

from __future__ import annotations


def test_a_pass_reads_as_one_labelled_line() -> None:
    from cityhub.kit.progress import counts_line

    assert counts_line("cloud jobs", {"done": 3, "failed": 0}) == "cloud jobs: done 3 · failed 0"
    assert counts_line("data sla check", {"reminded": 1, "sla": {"escalated": 2}}) == (
        "data sla check: reminded 1 · sla (escalated 2)")
    assert counts_line("ops queue", {}) == "ops queue: nothing to do"
    assert "{" not in counts_line("x", {"a": {"b": {"c": 1}}})
