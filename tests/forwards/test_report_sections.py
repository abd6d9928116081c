"""A forwards day's settlement report, as clearing staff download it: the member rows' flows
carry the variation, and the CSV has the forwards' sections."""

import csv
import io

from gateway.clearing_api import report_csv, report_view
from tests.forwards.test_forward_story import SYMBOL, fw, harness, mark


def test_variation_is_a_flow_and_the_csv_has_the_forwards_sections() -> None:
    h = harness()
    for member in ("a", "b", "c", "d"):  # c and d make the day's price (mark) and end flat
        h.deposit(member, 20_000_000)
    fw(h, "b", "sell", 10, 15_000)
    fw(h, "a", "buy", 10, 15_000)
    mark(h, 15_200)
    report = h.end_of_day().outcome
    rows = {r.member: r for r in report.members}
    # +200 yuan × 50 t to a, from b; margin postings move money between a member's own accounts
    assert rows["a"].flows["VARIATION"] == 1_000_000 == -rows["b"].flows["VARIATION"]
    assert "MARGIN" not in rows["a"].flows and rows["a"].flows["FEE"] == -4_300
    assert rows["a"].closing_balance == 20_000_000 + 1_000_000 - 4_300
    h.state.check()  # every member opens where it closed

    sections: dict[str, list[list[str]]] = {}
    for line in csv.reader(io.StringIO(report_csv(report_view(report)))):
        sections.setdefault(line[0], []).append(line[1:])
    assert ["member", "code", "amount"] in sections["section"]
    assert ["a", "VARIATION", "10000.00"] in sections["flow"] and ["b", "FEE", "-43.00"] in sections["flow"]
    assert sections["position"] == [["a", SYMBOL, "10", "15000.00", "0.00"], ["b", SYMBOL, "-10", "15000.00", "0.00"]]
    assert sections["variation"] == [["a", SYMBOL, "10000.00"], ["b", SYMBOL, "-10000.00"]]
