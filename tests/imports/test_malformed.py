"""Bad files: each gets a report naming line, column and reason, and nothing is written."""

import pytest

from bcp_service.imports import service
from tests.imports.conftest import HEADER_JA, counts, errors_of, patient_row, to_csv

FORMULA = "数式として扱われる文字"


@pytest.fixture
def unchanged(session):
    """Call at the end of a test: the tables hold what they held at the start."""
    before = counts(session)
    return lambda: counts(session) == before


def good_rows(area, n=3):
    return [patient_row(area, f"P-{i}") for i in range(1, n + 1)]


def only_error(report):
    assert not report.ok and not report.written
    assert report.errors_total == 1, report.errors
    return errors_of(report)[0]


def test_binary_file(run, unchanged):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
    line, column, reason = only_error(run(png).report)
    assert (line, column) == (None, None) and "バイナリ" in reason
    assert unchanged()


def test_broken_workbook(run, unchanged):
    line, column, reason = only_error(run(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 20).report)
    assert (
        (line, column) == (None, None) and "Excel のブック (.xlsx) として読めませんでした" in reason and "CSV" in reason
    )
    assert unchanged()


def test_legacy_xls_workbook(run, unchanged):
    line, column, reason = only_error(run(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40).report)
    assert (line, column) == (None, None) and ".xls" in reason and ".xlsx" in reason
    assert unchanged()


def test_undecodable_bytes(run, unchanged):
    _, _, reason = only_error(run(b"\x82\xff\x82\xfe,\x81\x7f\n1,2\n").report)
    assert "読めない文字コード" in reason
    assert unchanged()


def test_utf16_file(run, area, unchanged):
    data = to_csv(good_rows(area), HEADER_JA).encode("utf-16")
    _, _, reason = only_error(run(data).report)
    assert "UTF-16" in reason
    assert unchanged()


def test_euc_jp_file(run, area, unchanged):
    _, _, reason = only_error(run(to_csv(good_rows(area), HEADER_JA).encode("euc-jp")).report)
    assert "読めない文字コード" in reason
    assert unchanged()


def test_a_file_with_no_known_column_hints_at_encoding_or_wrong_file(run, unchanged):
    data = "譌･莉・莉ｶ謨ｰ\r\n1,2\r\n".encode("cp932")  # UTF-8 text once misread as CP932 and saved again
    line, _, reason = only_error(run(data).report)
    assert line == 1 and "文字コード" in reason and "ファイルの種類" in reason
    assert unchanged()


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b"  \n"])
def test_empty_file(run, unchanged, data):
    assert only_error(run(data).report) == (None, None, "ファイルが空です (empty file)")
    assert unchanged()


def test_header_only(run, unchanged):
    _, _, reason = only_error(run(",".join(HEADER_JA) + "\r\n").report)
    assert "データ行がありません" in reason
    assert unchanged()


def test_file_too_large(run, area, unchanged):
    report = run(to_csv(good_rows(area), HEADER_JA), import_max_bytes=100).report
    _, _, reason = only_error(report)
    assert "大きすぎます" in reason
    assert unchanged()


def test_missing_required_column(run, area, unchanged):
    header = [h for h in HEADER_JA if h != "氏名"]
    assert only_error(run(to_csv(good_rows(area), header)).report) == (
        1,
        "氏名",
        "必須の列がありません (required column missing)",
    )
    assert unchanged()


def test_unknown_and_duplicate_columns(run, area, unchanged):
    rows = good_rows(area)
    for row in rows:
        row["血液型"] = "A"
    header = [*HEADER_JA, "血液型", "氏名"]
    report = run(to_csv(rows, header)).report
    # An unknown column is read past and listed (an office's 備考 must not reject the file); a duplicate is an error.
    assert errors_of(report) == [(1, "氏名", "列「氏名」と同じ列が2回あります (duplicate column)")]
    assert report.ignored_columns == ["血液型"]
    assert unchanged()


def test_tab_separated(run, area, unchanged):
    _, _, reason = only_error(run(to_csv(good_rows(area), HEADER_JA).replace(",", "\t")).report)
    assert "タブ区切り" in reason
    assert unchanged()


def test_bad_dates(run, area, unchanged):
    rows = good_rows(area, 4)
    rows[1]["生年月日"] = "1950/2/30"
    rows[2]["生年月日"] = "昭和70年1月1日"
    rows[3]["生年月日"] = "2999-01-01"
    report = run(to_csv(rows, HEADER_JA)).report
    assert [(line, column) for line, column, _ in errors_of(report)] == [
        (3, "生年月日"),
        (4, "生年月日"),
        (5, "生年月日"),
    ]
    reasons = [reason for *_, reason in errors_of(report)]
    assert (
        "存在しない日付" in reasons[0]
        and "昭和の期間にありません" in reasons[1]
        and "生年月日が正しくありません" in reasons[2]
    )
    assert report.rows_valid == 1 and not report.written
    assert unchanged()


def test_bad_phone_numbers(run, area, unchanged):
    rows = good_rows(area, 3)
    rows[0]["連絡先1電話"] = "12345"
    rows[2]["連絡先2電話"] = "電話なし"
    rows[2]["連絡先2続柄"] = "長男"
    report = run(to_csv(rows, HEADER_JA)).report
    assert errors_of(report) == [
        (2, "連絡先1電話", "電話番号として読めません (not a valid phone number)"),
        (4, "連絡先2電話", "電話番号として読めません (not a valid phone number)"),
    ]
    assert unchanged()


def test_contact_without_phone(run, area, unchanged):
    rows = good_rows(area, 1)
    rows[0]["連絡先2電話"] = ""
    assert only_error(run(to_csv(rows, HEADER_JA)).report) == (2, "連絡先2電話", "入力してください (required)")
    assert unchanged()


def test_duplicate_ids_within_the_file(run, area, unchanged):
    rows = [*good_rows(area, 2), patient_row(area, "P-1")]
    assert only_error(run(to_csv(rows, HEADER_JA)).report) == (
        4,
        "外部ID",
        "2 行目と同じ外部IDです。1つの外部IDは1行にしてください (duplicate id in the file)",
    )
    assert unchanged()


def test_oversized_fields(run, area, unchanged):
    rows = good_rows(area, 3)
    rows[0]["氏名"] = "長" * 101
    rows[1]["氏名カナ"] = "カ" * 3000
    report = run(to_csv(rows, HEADER_JA)).report
    assert errors_of(report) == [
        (2, "氏名", "100文字以内にしてください (too long)"),
        (3, "氏名カナ", "長すぎます (2000文字まで) (cell too long)"),
    ]
    assert unchanged()


def test_cell_beyond_the_csv_limit(run, area, unchanged):
    rows = good_rows(area, 3)
    rows[1]["住所"] = "x" * 200_000
    report = run(to_csv(rows, [*HEADER_JA, "住所"])).report
    line, column, reason = errors_of(report)[0]
    assert (line, column) == (3, None) and "セルが長すぎます" in reason
    assert unchanged()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("氏名", '=HYPERLINK("http://example.com")'),
        ("氏名", "+cmd"),
        ("氏名カナ", "-2+3"),
        ("氏名", "@SUM(A1)"),
        ("氏名", "\t=1"),
        ("外部ID", "=1"),
        ("担当積極的医療機関ID", "=A1"),
        ("内部バッテリー時間", "=1+1"),
        ("連絡先1電話", "=0312345678"),
    ],
)
def test_formula_cells(run, area, unchanged, column, value):
    rows = good_rows(area, 2)
    rows[1][column] = value
    line, name, reason = only_error(run(to_csv(rows, HEADER_JA)).report)
    assert (line, name) == (3, column) and reason.startswith(FORMULA)
    assert unchanged()


def test_signs_are_data_in_phone_and_number_columns(run, area, session):
    rows = good_rows(area, 1)
    rows[0]["連絡先1電話"] = "+81 90-1234-5678"
    rows[0]["内部バッテリー時間"] = "-1"
    assert errors_of(run(to_csv(rows, HEADER_JA)).report) == [
        (2, "内部バッテリー時間", "0以上の数値にしてください (too small)")
    ]


def test_wrong_number_of_cells(run, area, unchanged):
    text = to_csv(good_rows(area, 2), HEADER_JA).replace("架空 太郎", "架空, 太郎", 1)
    line, column, reason = only_error(run(text).report)
    assert (line, column) == (2, None) and "列の数がヘッダーと合いません" in reason
    assert unchanged()


def test_broken_quotes(run, area, unchanged):
    text = to_csv(good_rows(area, 3), HEADER_JA).replace("架空 太郎", '"架空" 太郎', 1)
    line, _, reason = errors_of(run(text).report)[0]
    assert line == 2 and "引用符" in reason
    assert unchanged()


def test_references_that_do_not_resolve(run, area, unchanged):
    rows = good_rows(area, 4)
    rows[0]["市町村コード"] = "131016"  # valid check digit, not registered
    rows[1]["担当積極的医療機関ID"] = "NOPE"
    rows[2]["訪問看護ステーションID"] = "T-CLINIC"
    rows[3]["呼吸器の種類"] = "NPPV"
    rows[3]["人工呼吸器"] = "いいえ"
    report = run(to_csv(rows, HEADER_JA)).report
    assert [(line, column) for line, column, _ in errors_of(report)] == [
        (2, "市町村コード"),
        (3, "担当積極的医療機関ID"),
        (4, "訪問看護ステーションID"),
        (5, "呼吸器の種類"),
    ]
    assert "登録されていません" in errors_of(report)[0][2]
    assert "訪問看護ステーションを指定してください" in errors_of(report)[2][2]
    assert "人工呼吸器が「はい」になっていません" in errors_of(report)[3][2]
    assert unchanged()


def test_one_bad_row_among_good_ones_writes_nothing(run, area, unchanged, monkeypatch):
    # Small batches, so the good rows before the bad one have already been written and must be undone.
    monkeypatch.setattr(service, "BATCH_SIZE", 2)
    rows = good_rows(area, 7)
    rows[5]["性別"] = "ロボット"
    report = run(to_csv(rows, HEADER_JA)).report
    assert errors_of(report) == [
        (7, "性別", "次のいずれかを入力してください: 男性/女性/その他/不明 (not one of the allowed values)")
    ]
    assert (report.rows_total, report.rows_valid, report.written) == (7, 6, False)
    assert unchanged()


def test_every_bad_row_is_reported_on_a_dry_run(run, area, unchanged):
    rows = good_rows(area, 5)
    for row in rows[1:]:
        row["人工呼吸器"] = "たぶん"
    report = run(to_csv(rows, HEADER_JA), dry_run=True).report
    assert [line for line, *_ in errors_of(report)] == [3, 4, 5, 6]
    assert report.dry_run and not report.written
    assert unchanged()


def test_error_list_is_cut_but_counted(run, area, unchanged):
    rows = good_rows(area, 30)
    for row in rows:
        row["性別"] = "?"
    report = run(to_csv(rows, HEADER_JA), import_max_reported_errors=10).report
    assert (report.errors_total, len(report.errors)) == (30, 10)
    assert unchanged()


@pytest.mark.parametrize("undefined", [b"\xa0", b"\xfd", b"\xfe", b"\xff", b"\xf0\x40"])
def test_cp932_undefined_bytes_and_gaiji_are_refused_with_their_line(run, area, unchanged, undefined):
    """CP932 leaves 0xA0 and 0xFD-0xFF undefined and 0xF040.. to each vendor (外字): Python turns
    them into private-use characters, which would be stored as names nobody can read."""
    rows = good_rows(area)
    text = to_csv(rows)
    lines = text.encode("cp932").split(b"\r\n")
    lines[2] = lines[2].replace(b",", b"," + undefined, 1)  # the second patient, line 3 of the file
    line, _column, reason = only_error(run(b"\r\n".join(lines)).report)
    assert line == 3 and "定義されていない文字" in reason
    assert unchanged()
