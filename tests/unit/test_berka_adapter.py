"""The Berka (PKDD'99) adapter on a small bank written here in the challenge's .asc format."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from portrait.errors import InputError
from portrait.ingest.adapters import berka
from portrait.ingest.contract import TABLES_BY_NAME

FILES = {
    "district.asc": ["A1;A2;A3;A4;A5;A6;A7;A8;A9;A10;A11;A12;A13;A14;A15;A16",
                     '1;"Hl.m. Praha";"Prague";1204953;0;0;0;1;1;100.0;12541;0.29;0.43;167;85677;99107',
                     '2;"Benesov";"central Bohemia";88884;80;26;6;2;5;46.7;8507;1.67;1.85;132;2159;2674'],
    "client.asc": ['"client_id";"birth_number";"district_id"', '1;"706213";2', '2;"450204";1', '3;"871105";1'],
    "account.asc": ['"account_id";"district_id";"frequency";"date"', '10;2;"POPLATEK MESICNE";950324',
                    '20;1;"POPLATEK MESICNE";930226'],
    "disp.asc": ['"disp_id";"client_id";"account_id";"type"', '1;1;10;"OWNER"', '2;2;20;"OWNER"',
                 '3;3;20;"DISPONENT"'],
    "loan.asc": ['"loan_id";"account_id";"date";"amount";"duration";"payments";"status"',
                 '5314;20;930705;96396;12;8033.00;"B"', '5316;10;950711;12000;12;1100.00;"C"'],
    "card.asc": ['"card_id";"disp_id";"type";"issued"', '1005;3;"junior";981107 00:00:00'],
    "order.asc": ['"order_id";"account_id";"bank_to";"account_to";"amount";"k_symbol"',
                  '29401;10;"YZ";"87144583";2452.00;"SIPO"'],
    "trans_prefix.asc": ['"trans_id";"account_id";"date";"type";"operation";"amount";"balance";"k_symbol";"bank";"account"',
                         '1;20;930226;"PRIJEM";"VKLAD";700.00;700.00;"";;',
                         '2;20;930310;"VYDAJ";"VYBER";200.00;500.00;"";;',
                         '3;20;930320;"PRIJEM";"";100.00;600.00;"UROK";;',
                         '4;20;930399;"VYDAJ";"PREVOD NA UCET";50.00;550.00;"SIPO";"AB";"123"',
                         '5;20;930401;"VYBER";"VYBER KARTOU";60.00;540.00;" ";;'],
}  # fmt: skip


def bank(folder: Path, **replace: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (FILES | replace).items():
        (folder / name).write_text("\r\n".join(lines) + "\r\n", encoding="ascii")
    return folder


def converted(folder: Path) -> dict:
    conversion = berka._conversion(folder)
    return {name: frame for name, (frame, _) in conversion["tables"].items()} | {
        "_rejects": conversion["rejects"],
        "_warnings": conversion["warnings"],
    }


def test_birth_numbers_give_birth_date_and_gender(tmp_path):
    customers = converted(bank(tmp_path / "b"))["customers"].set_index("customer_id")
    assert customers.loc["B1", ["birth_date", "gender"]].tolist() == [
        "1970-12-13",
        "F",
    ]  # month 62 = 12 + 50
    assert customers.loc["B2", ["birth_date", "gender"]].tolist() == ["1945-02-04", "M"]
    assert customers.loc["B1", "home_branch_id"] == "D2"
    assert customers.loc["B3", "onboarded_date"] == "1993-02-26"  # disponent of account 20


def test_loans_map_status_rate_and_their_own_account(tmp_path):
    out = converted(bank(tmp_path / "b"))
    loans = out["loans"].set_index("loan_id")
    assert loans.loc["5314", ["status", "customer_id", "account_id"]].tolist() == [
        "default",
        "B2",
        "L5314",
    ]
    assert float(loans.loc["5314", "interest_rate"]) == 0  # 12 x 8033 repays exactly 96396
    rate = float(loans.loc["5316", "interest_rate"])  # 12 x 1100 on 12000
    assert 0.17 < rate < 0.18
    assert loans.loc["5316", "status"] == "current"
    accounts = out["accounts"].set_index("account_id")
    assert accounts.loc["L5314", ["status", "closed_date"]].tolist() == ["closed", "1994-07-05"]
    assert accounts.loc["20", ["customer_id", "branch_id", "currency"]].tolist() == [
        "B2",
        "D1",
        "CZK",
    ]


def test_transactions_balances_and_a_bad_date_quarantined(tmp_path):
    out = converted(bank(tmp_path / "b"))
    txn = out["transactions"].set_index("txn_id")
    assert txn.loc["1", ["direction", "channel", "category"]].tolist() == [
        "credit",
        "branch",
        "transfer_in",
    ]
    assert txn.loc["3", ["channel", "category"]].tolist() == ["transfer", "interest"]
    assert txn.loc["5", ["direction", "channel", "category"]].tolist() == ["debit", "atm", "cash"]
    assert "4" not in txn.index  # 930399 is no date
    assert [(r.line_number, r.rule) for r in out["_rejects"]["transactions"]] == [
        (5, "source format")
    ]
    balances = out["balances"].set_index("month_end_date")
    assert balances.loc["1993-03-31", ["balance_amount", "average_balance_amount"]].tolist() == [
        "600.0",
        "550.0",
    ]
    assert balances.loc["1993-04-30", "balance_amount"] == "540.0"
    assert any("prefix of trans.asc" in w for w in out["_warnings"])
    assert any("1 permanent orders not loaded" in w for w in out["_warnings"])


def test_every_table_fits_the_contract(tmp_path):
    out = converted(bank(tmp_path / "b"))
    for name, frame in out.items():
        if name.startswith("_"):
            continue
        assert set(frame.columns) <= set(TABLES_BY_NAME[name].column_names), name
        assert set(TABLES_BY_NAME[name].required_columns) <= set(frame.columns), name
    assert out["cards"]["card_tier"].tolist() == ["classic"]  # junior
    assert berka.default_batch_date(tmp_path / "b") == date(1998, 11, 8)


def test_a_missing_file_is_named(tmp_path):
    folder = bank(tmp_path / "b")
    (folder / "loan.asc").unlink()
    with pytest.raises(InputError, match=r"missing loan\.asc"):
        berka.discover(folder)
