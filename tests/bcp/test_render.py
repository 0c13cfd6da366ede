from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from bcp_service.bcp.context import (
    BcpContext,
    Facility,
    Institution,
    Organisation,
    Patient,
    Therapy,
)
from bcp_service.bcp.example import example_context
from bcp_service.bcp.render import DEFAULT_TEMPLATE_DIR, render_draft
from tests.bcp.factories import bare_context, complete_context

CHAPTERS = [
    "1. 総論",
    "2. 平常時の対応",
    "3. 緊急時の対応",
    "4. 他施設との連携",
    "5. 地域との連携",
    "6. 様式",
]


def _blank_list(html: str) -> str:
    return html.split("<h1>未記入項目一覧</h1>", 1)[1]


def test_bare_context_renders_with_many_blanks(plan_kind):
    draft = render_draft(bare_context(plan_kind))

    assert [s.section for s in draft.sections] == CHAPTERS
    assert len(draft.blanks) >= 50
    assert draft.overall_completeness < 0.1
    assert "【要記入：" in draft.html
    for hazard in ("自然災害", "新興感染症"):
        assert hazard in draft.html


def test_complete_context_renders_without_blanks(plan_kind):
    draft = render_draft(complete_context(plan_kind))

    assert draft.blanks == []
    assert draft.overall_completeness == 1.0
    assert all(s.filled == s.total and s.ratio == 1.0 for s in draft.sections)
    assert "【要記入" not in draft.html.split("<body>", 1)[1].replace("【要記入：項目名】", "")
    assert "未記入の項目はありません" in draft.html


def test_example_context_has_few_blanks(plan_kind):
    draft = render_draft(example_context(plan_kind))

    assert 0 < len(draft.blanks) <= 12
    assert draft.overall_completeness > 0.9


def test_blank_list_names_every_blank(plan_kind):
    draft = render_draft(bare_context(plan_kind))
    listing = _blank_list(draft.html)

    rows = re.findall(r"<tr><td>(\d+)</td>", listing)
    assert len(rows) == len(draft.blanks)
    for blank in draft.blanks:
        assert blank.section in CHAPTERS
        assert f"<td>{blank.label}</td>" in listing
    assert sum(s.total - s.filled for s in draft.sections) == len(draft.blanks)


def test_every_blank_is_marked_in_the_body(plan_kind):
    draft = render_draft(example_context(plan_kind))
    body = draft.html.split("<h1>未記入項目一覧</h1>", 1)[0]
    marked = re.findall(r'<span class="blank[^"]*">【要記入：([^】]+)】</span>', body)

    for blank in draft.blanks:
        # Table cells show only the item; the row says whose it is.
        shown = blank.label.rsplit("：", 1)[-1]
        assert shown in marked or blank.label in marked


def test_active_institution_adds_backup_and_area_transport():
    html = render_draft(example_context("active_institution")).html
    assert "他の医療機関の後方支援（夜間・不在時の代診）" in html
    assert "地域の人工呼吸器使用者の搬送計画" in html
    assert "様式7 地域の人工呼吸器使用者 搬送計画一覧" in html

    clinic = render_draft(example_context("single_doctor_clinic")).html
    assert "様式7" not in clinic
    assert "積極的医療機関との代診の取り決め" in clinic or "代診の取り決め" in clinic


def test_completeness_counts_are_exact_for_a_constructed_context():
    context = BcpContext(
        plan_kind="single_doctor_clinic",
        facility=Facility(name="架空クリニック", kind_label="診療所"),
        active_institution=Organisation(name="架空病院"),
        nearby_institutions=[
            Institution(name="架空薬局", kind="薬局", phone="000-0000-0000"),
            Institution(name="架空ステーション", kind="訪問看護ステーション"),
        ],
        local_facts={"近隣機関との相互支援の取り決め（相手先・締結日）": "締結済み"},
    )
    draft = render_draft(context)
    chapter = next(s for s in draft.sections if s.section == "4. 他施設との連携")

    # Filled: 積極的医療機関, 連携先の…, 架空薬局：電話番号, 相互支援の取り決め.
    # Blank: its phone, 連携拠点 and its phone, 架空ステーション：電話番号, 後方支援病院,
    # 代診の取り決め. Names used in several places of the chapter count once.
    assert (chapter.filled, chapter.total) == (4, 10)
    assert chapter.ratio == pytest.approx(0.4)
    blanks = {b.label for b in draft.blanks if b.section == chapter.section}
    assert blanks == {
        "積極的医療機関の電話番号",
        "連携拠点",
        "連携拠点の電話番号",
        "架空ステーション：電話番号",
        "後方支援病院",
        "積極的医療機関との代診の取り決め（文書の有無・締結日）",
    }


def test_completeness_counting_rules(tmp_path: Path):
    (tmp_path / "single_doctor_clinic.html").write_text(
        '{{ draft.chapter("一") }}'
        '{{ draft.field(ctx.facility.name, "名称") }}{{ draft.field(ctx.facility.name, "名称") }}'
        '{{ draft.field(ctx.facility.phone, "電話") }}{{ draft.field(ctx.facility.phone, "電話") }}'
        '{{ draft.field("  ", "空白だけ") }}{{ draft.ask("発電機") }}{{ draft.ask("耐震") }}'
        '{{ draft.chapter("二") }}{{ draft.require(ctx.patients, "患者") }}'
        '{{ draft.field(ctx.facility.phone, "電話") }}',
        encoding="utf-8",
    )
    (tmp_path / "document.html").write_text("{{ body }}", encoding="utf-8")
    context = bare_context("single_doctor_clinic").model_copy(update={"local_facts": {"耐震": "新耐震"}})

    draft = render_draft(context, template_dir=tmp_path)

    counts = [(s.section, s.filled, s.total) for s in draft.sections]
    assert counts == [("1. 一", 2, 5), ("2. 二", 0, 2)]
    assert draft.overall_completeness == pytest.approx(2 / 7)
    assert [(b.section, b.label, b.kind) for b in draft.blanks] == [
        ("1. 一", "電話", "registry"),
        ("1. 一", "空白だけ", "registry"),
        ("1. 一", "発電機", "local"),
        ("2. 二", "患者", "registry"),
        ("2. 二", "電話", "registry"),
    ]
    assert draft.html.count("【要記入：電話】") == 3


def test_user_data_is_escaped():
    context = BcpContext(
        plan_kind="single_doctor_clinic",
        facility=Facility(name="<script>alert(1)</script>", kind_label="<b>診療所</b>"),
        patients=[Patient(label='患者"<img src=x>', therapy=Therapy.HOME_OXYGEN)],
    )
    html = render_draft(context).html

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>診療所</b>" not in html
    assert "<img" not in html


def test_battery_and_oxygen_fields_apply_only_to_their_therapy():
    context = bare_context("single_doctor_clinic").model_copy(
        update={"patients": [Patient(label="酸素の患者", therapy=Therapy.HOME_OXYGEN)]}
    )
    labels = {b.label for b in render_draft(context).blanks}

    assert "酸素の患者：酸素流量" in labels
    assert not any("バッテリー" in label for label in labels if label.startswith("酸素の患者"))
    assert "酸素の患者：吸引器" not in labels


def test_unused_local_facts_are_reported():
    context = bare_context("visiting_nurse_station").model_copy(
        update={"local_facts": {"想定浸水深": "0.5m未満", "存在しない項目": "x"}}
    )
    draft = render_draft(context)
    assert draft.unused_local_facts == ["存在しない項目"]
    assert "0.5m未満" in draft.html


def test_templates_are_strict_about_undefined_names(tmp_path: Path):
    (tmp_path / "single_doctor_clinic.html").write_text("{{ ctx.no_such_field }}", encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError):
        render_draft(bare_context("single_doctor_clinic"), template_dir=tmp_path)


def test_default_template_dir_is_the_repo_templates():
    assert DEFAULT_TEMPLATE_DIR.is_dir()
    assert (DEFAULT_TEMPLATE_DIR / "_base.html").is_file()
