"""PUT /v1/instruments with the instrument master fields (issue 13): the rule table sets the
rate; bad input is a 422 naming the field."""

from __future__ import annotations

from typing import Any


def test_master_fields_set_the_rate_and_bad_ones_name_their_field(live: Any) -> None:
    ops = live.key("operations")

    def put(iid: int, **fields: Any) -> Any:
        return live.client.put(f"/v1/instruments/{iid}", json={"price_minor": 10_000, **fields}, headers=ops)

    # Source: 实施细则 折算率: other bonds 80 % (not 95 %), government bonds 95 %, ST 0 %, P/E > 300 0 %
    assert put(11, symbol="019547.SH", kind="bond").json()["conversion_rate_bps"] == 8_000
    assert put(12, symbol="019001.SH", kind="government_bond").json()["conversion_rate_bps"] == 9_500
    st = put(13, symbol="600777.SH", kind="share", board="st").json()
    assert st["conversion_rate_bps"] == 0 and st["board"] == "st"
    rich = put(14, symbol="688001.SH", kind="share", board="star", static_pe=512.0).json()
    assert rich["conversion_rate_bps"] == 0 and rich["eligible_for_financing"]
    unknown_board = put(15, symbol="X1", kind="share", board="nasdaq")
    assert unknown_board.status_code == 422 and "board" in unknown_board.text
    pe_as_text = put(16, symbol="X2", kind="share", static_pe="-12.5")
    assert pe_as_text.status_code == 422 and "static_pe" in pe_as_text.text
