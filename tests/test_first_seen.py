"""FirstSeen: the one first-seen map of document ids behind suggest's and zeroshot's
refusal, the training reader's warning, and the audit's and apply-review's refusals."""

import pytest

from tagsmith.data.ids import FirstSeen


def test_an_id_met_again_answers_where_it_was_first_met():
    ids = FirstSeen[str]()
    assert ids.claim("a", "x.txt:1") is None
    assert ids.claim("b", "x.txt:2") is None
    assert ids.claim("a", "y.jsonl:4") == "x.txt:1"
    # the first place is kept: a third meeting names it, not the second
    assert ids.claim("a", "z.csv:9") == "x.txt:1"
    assert ids.claim("a", "x.txt:1") == "x.txt:1"  # the same place again is a repeat too
    assert len(ids) == 2 and "a" in ids and "c" not in ids


@pytest.mark.parametrize("first", [0, "", False])
def test_a_falsy_first_place_is_still_a_place(first):
    # an index 0 (audit_corpus's doc_ids[0]) read as "not met" would let a repeat through
    ids = FirstSeen[object]()
    assert ids.claim("a", first) is None
    assert ids.claim("a", 3) is first

