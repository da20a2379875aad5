"""The UCI Bank Marketing adapter on small files written here in the UCI layouts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from portrait.errors import InputError
from portrait.ingest.adapters import uci_bank_marketing as uci
from portrait.ingest.contract import TABLES_BY_NAME

ADDITIONAL_HEADER = ('"age";"job";"marital";"education";"default";"housing";"loan";"contact";"month";"day_of_week";'
                     '"duration";"campaign";"pdays";"previous";"poutcome";"emp.var.rate";"cons.price.idx";'
                     '"cons.conf.idx";"euribor3m";"nr.employed";"y"')  # fmt: skip
FULL_HEADER = ('"age";"job";"marital";"education";"default";"balance";"housing";"loan";"contact";"day";"month";'
               '"duration";"campaign";"pdays";"previous";"poutcome";"y"')  # fmt: skip


def additional_row(
    age="40",
    job="admin.",
    month="may",
    weekday="mon",
    y="no",
    housing="yes",
    euribor="4.857",
    education="university.degree",
    duration="261",
) -> str:
    return (
        f'{age};"{job}";"married";"{education}";"no";"{housing}";"no";"cellular";"{month}";"{weekday}";'
        f'{duration};1;999;0;"nonexistent";1.1;93.994;-36.4;{euribor};5191;"{y}"'
    )


def write(path: Path, header: str, rows: list[str], newline: str = "\r\n") -> Path:
    path.write_text(newline.join([header, *rows]) + newline, encoding="utf-8")
    return path


def tables(path: Path) -> dict:
    conversion = uci._conversion(path)
    return {name: frame for name, (frame, _) in conversion["tables"].items()} | {
        "_rejects": conversion["rejects"]
    }


def test_dates_follow_the_file_order_year_wraps_and_weekdays(tmp_path):
    rows = [
        additional_row(month="may", weekday="mon"),  # 2008-05-05, the first Monday
        additional_row(month="may", weekday="fri"),  # the Friday after: 2008-05-09
        additional_row(month="may", weekday="tue"),  # weekday went back: next week, 2008-05-13
        additional_row(month="may", weekday="tue"),  # unchanged: same day
        additional_row(month="dec", weekday="wed"),  # 2008-12-03
        additional_row(month="mar", weekday="thu", y="yes"),  # month went back: 2009-03-05
    ]
    out = tables(write(tmp_path / "bank-additional-full.csv", ADDITIONAL_HEADER, rows))
    contacts = out["campaign_contacts"]
    assert contacts["contacted_at"].str[:10].tolist() == [
        "2008-05-05",
        "2008-05-09",
        "2008-05-13",
        "2008-05-13",
        "2008-12-03",
        "2009-03-05",
    ]
    assert contacts["campaign_id"].tolist()[-1] == "UCI-2009-03"
    assert contacts["has_converted"].tolist() == ["false"] * 5 + ["true"]
    assert contacts["converted_at"].tolist()[-1] == contacts["contacted_at"].tolist()[-1]
    assert uci.default_batch_date(tmp_path) == date(2009, 3, 6)


def test_every_table_fits_the_contract_and_duration_is_never_loaded(tmp_path):
    out = tables(
        write(
            tmp_path / "bank-additional-full.csv",
            ADDITIONAL_HEADER,
            [additional_row(duration="999999"), additional_row(housing="no")],
        )
    )
    for name, frame in out.items():
        if name.startswith("_"):
            continue
        contract = TABLES_BY_NAME[name]
        assert set(frame.columns) <= set(contract.column_names), name
        assert set(contract.required_columns) <= set(frame.columns), name
        assert not frame.astype(str).isin(["999999"]).any().any(), f"duration leaked into {name}"
    customers = out["customers"]
    assert customers["education"].tolist() == ["tertiary", "tertiary"]
    assert customers["occupation"].tolist() == ["employee", "employee"]
    assert len(out["accounts"]) == 1  # only the first client has a housing loan
    indicators = out["economic_indicators"]
    assert set(indicators["indicator"]) == {v[0] for v in uci.INDICATORS.values()}
    assert len(indicators) == 5  # one value per indicator and contact date


def test_unreadable_rows_are_rejected_with_their_line_and_feed_no_table(tmp_path):
    rows = [
        additional_row(),
        additional_row(month="xyz"),
        additional_row(age="abc"),
        additional_row(y="maybe"),
    ]
    out = tables(write(tmp_path / "bank-additional-full.csv", ADDITIONAL_HEADER, rows))
    rejects = sorted((r.line_number, r.detail.split()[0]) for r in out["_rejects"])
    assert rejects == [(3, "month"), (4, "age"), (5, "y")]
    assert all(r.rule == "source format" for r in out["_rejects"])
    assert len(out["customers"]) == len(out["campaign_contacts"]) == 1


def test_an_empty_outcome_is_an_unknown_outcome_and_client_id_names_the_customer(tmp_path):
    header = ADDITIONAL_HEADER + ';"client_id"'
    rows = [
        additional_row(y="yes") + ';"K1"',
        additional_row(y="", weekday="tue") + ';"K1"',
        additional_row() + ';"K2"',
    ]
    out = tables(write(tmp_path / "bank-additional-full.csv", header, rows))
    assert out["customers"]["customer_id"].tolist() == ["K1", "K2"]
    contacts = out["campaign_contacts"]
    assert contacts["customer_id"].tolist() == ["K1", "K1", "K2"]
    assert contacts["has_converted"].tolist() == ["true", "", "false"]


def test_bank_full_gives_the_day_and_a_balance(tmp_path):
    rows = [
        '58;"management";"married";"tertiary";"no";2143;"yes";"no";"unknown";5;"may";261;1;-1;0;"unknown";"no"',
        '44;"technician";"single";"secondary";"no";-29;"no";"yes";"unknown";31;"jun";151;1;-1;0;"unknown";"yes"',
    ]
    out = tables(write(tmp_path / "bank-full.csv", FULL_HEADER, rows, newline="\n"))
    assert out["campaign_contacts"]["contacted_at"].str[:10].tolist() == [
        "2008-05-05",
        "2008-06-30",
    ]
    assert out["balances"]["balance_amount"].tolist() == ["2143", "-29"]
    assert "economic_indicators" not in out
    assert sorted(out["accounts"]["product_id"]) == sorted(
        ["UCI_HOUSING_LOAN", "UCI_PERSONAL_LOAN", "UCI_CURRENT_ACCOUNT", "UCI_CURRENT_ACCOUNT"]
    )


def test_a_file_without_the_uci_columns_is_refused_naming_the_column(tmp_path):
    path = write(tmp_path / "bank-full.csv", '"age";"job"', ['1;"x"'])
    with pytest.raises(InputError, match="missing column 'marital'"):
        uci.discover(path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no UCI Bank Marketing file"):
        uci.discover(empty)


def test_the_latest_contacts_can_be_delivered_open_with_their_truth_kept_aside(tmp_path):
    outcomes = ["no", "yes", "no", "no", "yes", "no", "yes", "no", "no", "yes"]
    source = write(
        tmp_path / "bank-additional-full.csv",
        ADDITIONAL_HEADER,
        [
            additional_row(y=y, month=m)
            for y, m in zip(outcomes, ["may"] * 5 + ["jun"] * 5, strict=True)
        ],
    )
    delivery, truth = uci.open_latest(source, tmp_path / "delivery", 0.3)
    contacts = tables(delivery)["campaign_contacts"]
    # the same ids as the whole file; the last 3 open (empty outcome), their truth by id
    assert (
        contacts["contact_id"].tolist()
        == tables(source)["campaign_contacts"]["contact_id"].tolist()
    )
    assert truth == {"UCI-C000009": 0, "UCI-C000010": 0, "UCI-C000011": 1}
    assert contacts["has_converted"].tolist() == [
        {"yes": "true", "no": "false"}[y] for y in outcomes[:7]
    ] + ["", "", ""]


def test_a_file_not_in_contact_order_is_refused_naming_the_file(tmp_path):
    months = ["may", "jun", "mar"] * 12  # a random sample: the month goes back again and again
    path = write(
        tmp_path / "bank-additional.csv",
        ADDITIONAL_HEADER,
        [additional_row(month=m) for m in months],
    )
    with pytest.raises(InputError, match="not in time order") as refused:
        tables(path)
    assert str(path) in refused.value.line()
