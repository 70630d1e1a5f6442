"""How files are shown to checkers: flags placed in the table by their labels, long tables cut
to their first rows plus every flagged row, images known by their bytes, the rest inert."""

from __future__ import annotations

import re

from spe.console.preview import LEADING_ROWS, image_type, preview
from tests.console.conftest import png


def flag(row: list[str], column: list[str], severity: str = "fail") -> dict:
    return {"row": row, "column": column, "rule": "threshold", "reason": "few",
            "severity": severity}


def test_long_table_keeps_every_flagged_row_with_its_number():
    body = "\n".join(f"r{i},{5 if i in (700, 999) else 100}" for i in range(1000))
    check = {"table": {"rows": ["area"]},
             "flags": [flag(["r700"], ["count"]), flag(["r999"], ["count"], "review"),
                       flag(["nowhere"], ["count"]), flag([], [])]}
    shown = preview("t.csv", f"area,count\n{body}\n".encode(), check)
    assert shown.kind == "table" and shown.truncated
    assert shown.row_numbers == [*range(1, LEADING_ROWS + 1), 701, 1000]
    assert [c.severity for c in shown.rows[-2]] == [None, "fail"]
    assert [c.severity for c in shown.rows[-1]] == [None, "review"]
    assert shown.unplaced_flags == [flag(["nowhere"], ["count"])]
    assert shown.whole_file_flags == [flag([], [])]


def test_wide_table_placed_by_leading_labels():
    data = b"sex,0-24,25-49\nF,4,30\nM,50,2\n"
    shown = preview("x.csv", data, {"flags": [flag(["M"], ["25-49"]), flag(["F"], ["0-24"])]})
    assert [[c.severity for c in row] for row in shown.rows] == [[None, "fail", None],
                                                                  [None, None, "fail"]]


def test_images_by_their_bytes_and_the_rest_inert():
    assert image_type(png()[:16]) == "image/png"
    assert preview("figure.csv", png(), None).kind == "image"  # the name does not decide
    assert image_type(b"<svg xmlns='http://www.w3.org/2000/svg'>") is None
    svg = preview("figure.svg", b"<svg><script>alert(1)</script></svg>", None)
    assert svg.kind == "text" and "<script>" in svg.text  # shown escaped by the template
    binary = preview("model.bin", bytes(range(256)) * 8, None)
    assert binary.kind == "hex" and binary.truncated
    assert binary.text.splitlines()[0].startswith("00000000  00 01 02")


def test_a_differencing_flag_shows_which_published_cells_reveal_the_cell():
    from egress.differencing import CountTable, Ledger, check_differencing
    from spe.console import i18n
    from spe.console.web import templates

    released = CountTable("ages.csv", ["age", "column"],
                          {("0-17", "n"): 30, ("18-64", "n"): 120, ("65+", "n"): 44})
    new = CountTable("regrouped.csv", ["age", "column"],
                     {("0-17", "n"): 30, ("18-59", "n"): 116, ("60+", "n"): 48})
    [found] = check_differencing(new, Ledger([released]), 11)
    macro = templates.env.get_template("_flags.html").module.flag_list
    with i18n.speaking("en"):
        html = str(macro([found.flag()]))
    assert "How the published cells reveal it" in html and "(people: 4)" in html
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>(\d+)</td></tr>",
                      html)
    assert rows == [("+1", "ages.csv", "age=18-64", "120"),
                    ("-1", "regrouped.csv", "age=18-59", "116")]
    with i18n.speaking("fr"):
        assert "Comment les cellules publiées la révèlent" in str(macro([found.flag()]))


def test_an_unflagged_table_shows_its_leading_rows_and_says_when_there_are_more():
    def table(rows: int) -> bytes:
        return ("region,count\n" + "".join(f"r{i},{20 + i}\n" for i in range(rows))).encode()

    exact = preview("t.csv", table(LEADING_ROWS), {"flags": []})
    assert len(exact.rows) == LEADING_ROWS and not exact.truncated
    longer = preview("t.csv", table(LEADING_ROWS + 1), {"flags": []})
    assert len(longer.rows) == LEADING_ROWS and longer.truncated
    assert longer.row_numbers[-1] == LEADING_ROWS


def test_cell_values_and_reasons_are_escaped_in_the_table_html():
    data = b'region,count\n<script>alert(1)</script>,3\n"a&b",120\n'
    flag = {"rule": "threshold", "reason": "<b>3</b> < 11", "severity": "fail",
            "row": ["<script>alert(1)</script>"], "column": ["count"]}
    html = str(preview("t.csv", data, {"flags": [flag], "table": {"rows": ["region"]}})
               .body_html())
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;3&lt;/b&gt; &lt; 11" in html and "a&amp;b" in html
    assert '<td class="flagged sev-fail" tabindex="-1" data-flag><span class="value">3</span>' \
        in html
