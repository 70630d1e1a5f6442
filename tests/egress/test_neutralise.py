import codecs

import pytest

from egress.neutralise import neutralise_cell, neutralise_csv


@pytest.mark.parametrize(("cell", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("+33 1 23", "'+33 1 23"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("-3", "-3"), ("+1,5", "+1,5"), ("-1 234,5", "-1 234,5"), ("-", "-"), ("Nord", "Nord"),
])
def test_cells(cell, expected):
    assert neutralise_cell(cell) == expected


def test_a_csv_keeps_its_delimiter_encoding_and_bom():
    data = codecs.BOM_UTF8 + "région;n;note\r\nÎle;-3;=1+2\r\n".encode()
    out, n = neutralise_csv(data)
    assert n == 1
    assert out == codecs.BOM_UTF8 + "région;n;note\r\nÎle;-3;'=1+2\r\n".encode()
    latin = "région,n\nÎle,@x\n".encode("cp1252")
    assert neutralise_csv(latin) == ("région,n\nÎle,'@x\n".encode("cp1252"), 1)


def test_nothing_to_neutralise_leaves_the_bytes_alone():
    data = b'a,b\n"1,5",-2\n'
    assert neutralise_csv(data) == (data, 0)
    assert neutralise_csv(b"\x00\xff\xfe") == (b"\x00\xff\xfe", 0)
