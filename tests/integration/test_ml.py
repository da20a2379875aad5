"""The ML lifecycle on a small synthetic bank: real warehouse, real dbt, real MLflow (SQLite store).

A private PORTRAIT_HOME with 8 months of history: enough for point-in-time training sets.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta

import mlflow
import mlflow.sklearn
import numpy as np
import pytest
from portrait.expectations.gates import GateFailed
from portrait.ml import events, features, models, promote, registry
from portrait.ml.models import classifier
from portrait.ml.score import score, score_events
from portrait.ml.train import train

from portrait import warehouse
from portrait.config import Settings
from portrait.errors import InputError
from portrait.scored_marts import publish_scored_marts
from tests.conftest import run_cli

pytestmark = pytest.mark.integration
AS_OF = date(2025, 7, 1)


def _rows(settings: Settings, query: str, *params) -> list[tuple]:
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        return conn.execute(query, params).fetchall()


def _add_published_login(
    conn, event_id: str, customer: str, event_at: str, event_date: date
) -> None:
    """A login in the digital events BI sees: fct_digital_events is a view over the incremental table up
    to the publication watermark, so the row goes there with an ingestion time the last publication covers."""
    conn.execute(
        "insert into intermediate.int_digital_events_deduplicated (event_id, customer_id, event_at, event_date, channel, "
        "event_type, product_id, batch_id, ingested_at) select %s, %s, %s, %s, 'app', 'login', null, batch_id, ingested_at "
        "from intermediate.int_digital_events_deduplicated order by ingested_at limit 1",
        (event_id, customer, event_at, event_date),
    )
    assert (
        conn.execute(
            "select count(*) from marts.fct_digital_events where event_id = %s", (event_id,)
        ).fetchone()[0]
        == 1
    )


def test_features_for_a_date_ignore_everything_that_happened_after_it(trained):
    settings, _ = trained
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        before = features.compute(conn, AS_OF)
        customer = before["customer_id"].iloc[0]
        # history written after T: a login, a complaint-free month of transactions, balances, a contact
        _add_published_login(conn, "late-1", customer, "2025-07-01T00:00:00Z", AS_OF)
        # fct_balances_monthly is a view over the incremental table up to the publication watermark
        conn.execute(
            "insert into intermediate.int_balances_classified (account_id, customer_id, product_family, is_asset, month_start, "
            "month_end_date, balance_amount, average_balance_amount, ingested_at) select 'late-acc', %s, 'savings', false, %s, %s, "
            "1e9, 1e9, min(ingested_at) from intermediate.int_balances_classified",
            (customer, AS_OF, date(2025, 7, 31)),
        )
        assert (
            conn.execute(
                "select count(*) from marts.fct_balances_monthly where account_id = 'late-acc'"
            ).fetchone()[0]
            == 1
        )
        conn.execute(
            "update intermediate.int_transactions_aggregated_monthly set txn_count = txn_count + 1000 "
            "where month_start >= %s",
            (AS_OF,),
        )
        conn.execute(
            "insert into marts.fct_campaign_contacts (contact_id, campaign_id, customer_id, product_id, contact_group, contacted_at, "
            "channel, has_responded, has_converted, converted_at, conversion_amount, is_outcome_known) "
            "values ('late-c', 'K999', %s, 'P02', 'treated', %s, 'email', true, true, %s, 10, true)",
            (customer, "2025-07-02T10:00:00Z", "2025-07-03T10:00:00Z"),
        )
        after = features.compute(conn, AS_OF)
        conn.rollback()
        assert before.equals(after)
        # ... while the same history dated before T does change them (the test can fail)
        _add_published_login(conn, "early-1", customer, "2025-06-30T00:00:00Z", date(2025, 6, 30))
        changed = features.compute(conn, AS_OF)
        conn.rollback()
        assert not before.equals(changed)


def test_event_features_ignore_what_happened_after_each_event(trained):
    settings, _ = trained
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        before = events.contact_response_set(conn).frame
        cut = before["event_at"].iloc[len(before) // 2]
        early = before[before["event_at"] < cut].reset_index(drop=True)
        customer = early["customer_id"].iloc[-1]
        # after the cut: a converted contact of that customer, an account opened the next day
        conn.execute(
            "insert into marts.fct_campaign_contacts (contact_id, campaign_id, customer_id, product_id, contact_group, contacted_at, "
            "channel, has_responded, has_converted, converted_at, conversion_amount, is_outcome_known) "
            "values ('late-c', 'K999', %s, 'P02', 'treated', %s, 'email', true, true, %s, 10, true)",
            (customer, cut, cut),
        )
        conn.execute(
            "insert into marts.dim_account (account_id, customer_id, product_id, product_family, is_asset, currency, "
            "opened_date, account_status) values ('late-acc', %s, 'P02', 'savings', false, 'EUR', %s, 'active')",
            (customer, cut.date() + timedelta(days=1)),
        )  # accounts are dated by day
        after = events.contact_response_set(conn).frame
        conn.rollback()
        assert "late-c" in set(after["event_id"])
        assert early.equals(after[after["event_at"] < cut].reset_index(drop=True))
        # ... while the same contact dated before the customer's last early contact changes them
        conn.execute(
            "insert into marts.fct_campaign_contacts (contact_id, campaign_id, customer_id, product_id, contact_group, contacted_at, "
            "channel, has_responded, has_converted, converted_at, conversion_amount, is_outcome_known) "
            "values ('early-c', 'K999', %s, 'P02', 'treated', %s, 'email', true, true, %s, 10, true)",
            (customer, early["event_at"].iloc[0], early["event_at"].iloc[0]),
        )
        changed = events.contact_response_set(conn).frame
        conn.rollback()
        row = changed[changed["event_id"] == early["event_id"].iloc[-1]]
        assert row["prior_contacts"].iloc[0] == early["prior_contacts"].iloc[-1] + 1


def test_an_event_model_scores_its_holdout_through_the_registry_as_trained(trained):
    settings, _ = trained
    assert "contact_response" not in models.names()  # on demand, not in the scheduled training
    result = train("contact_response", settings=settings, log=lambda _: None)
    registry.configure(settings)
    run = mlflow.get_run(result.run_id)
    assert 0.5 < run.data.metrics["random_split_auc"] <= 1
    since = datetime.fromisoformat(run.data.tags["holdout_from"])
    scored = score_events(
        "contact_response",
        version=result.version,
        since=since,
        settings=settings,
        log=lambda _: None,
    )
    # the stored scores of the held-out events are the holdout the training evaluated; the open
    # contacts (outcome unknown: the prospects) are scored beside them, never as labels
    open_since = _rows(
        settings,
        "select count(*) from marts.fct_campaign_contacts where contact_group = 'treated' "
        "and not is_outcome_known and contacted_at >= %s",
        since,
    )[0][0]
    assert open_since > 0, "the synthetic bank has a campaign in flight"
    assert scored.events == result.rows_holdout + open_since
    labelled = _rows(
        settings,
        "select count(*) filter (where label is null), count(label) from ml.event_scores "
        "where model_name = 'contact_response'",
    )[0]
    assert labelled == (open_since, result.rows_holdout)
    # families compete on validation inside the training rows; the chosen one is refitted on every
    # known event and registered, so the stored scores are that pipeline's, not the holdout fit's
    family = result.extra["family"]
    assert {f"validation_auc_{f}" for f in models.get("contact_response").families} <= set(
        result.metrics
    )
    assert result.metrics["auc"] == result.metrics[f"holdout_auc_{family}"]
    version = registry.version(registry.configure(settings), "contact_response", result.version)
    assert version.tags["model_family"] == family
    assert version.tags["fitted_through"] >= str(since)
    pipeline = mlflow.sklearn.load_model(f"models:/contact_response/{result.version}")
    with warehouse.connect(warehouse.owner_url(settings)) as conn:
        frame = events.contact_response_set(conn, since=since, known_only=False).frame
    stored = dict(
        _rows(
            settings,
            "select event_id, score from ml.event_scores where model_name = 'contact_response'",
        )
    )
    expected = classifier.predict(pipeline, frame[pipeline.feature_names_in_])
    assert np.allclose([stored[e] for e in frame["event_id"]], expected, rtol=0, atol=1e-12)
    publish_scored_marts(settings)
    prospects = _rows(
        settings,
        "select count(*), min(priority_rank), max(model_version), bool_and(score between 0 and 1) "
        "from marts.contact_prospects",
    )[0]
    assert (
        0 < prospects[0] <= open_since
        and prospects[1] == 1
        and prospects[2] == result.version
        and prospects[3]
    )
    again = score_events(
        "contact_response",
        version=result.version,
        since=since,
        settings=settings,
        log=lambda _: None,
    )
    assert _rows(
        settings,
        "select count(*), count(distinct event_id), min(model_version), max(model_version) "
        "from ml.event_scores where model_name = 'contact_response'",
    )[0] == (again.events, again.events, result.version, result.version)
    with pytest.raises(InputError, match="scores customers, not events"):
        score_events("churn_risk", settings=settings)
    # one family on its own; a refitted champion is judged by the figure it was promoted on
    linear = train("contact_response", family="logistic", settings=settings, log=lambda _: None)
    assert linear.extra["family"] == "logistic"
    assert not any(k.startswith("validation_auc") for k in linear.metrics)
    if result.promoted and "floor" not in linear.decision:
        assert "its own holdout" in linear.decision


def test_training_is_tracked_registered_and_promoted_by_the_rules(trained):
    settings, results = trained
    response = results["response_propensity"]
    assert {"auc", "pr_auc", "lift_top_decile", "brier", "calibration_error"} <= set(
        response.metrics
    )
    assert response.rows_train > response.rows_holdout > 0
    client = registry.configure(settings)
    run = client.get_run(response.run_id)
    assert (
        run.data.tags["data_digest"]
        and run.data.tags["as_of_date"]
        and run.data.tags["code_version"]
    )
    artifacts = {a.path for a in client.list_artifacts(response.run_id)} | {
        a.path for a in client.list_artifacts(response.run_id, "plots")
    }
    assert {
        "plots/roc.png",
        "plots/lift.png",
        "plots/calibration.png",
        "feature_importance.csv",
        "reference.json",
    } <= artifacts
    model_info = mlflow.models.get_model_info(f"models:/response_propensity/{response.version}")
    assert (
        model_info.signature is not None
        and "offered_product_id" in model_info.signature.inputs.input_names()
    )
    assert results["customer_segmentation"].extra["cluster_names"]
    for result in results.values():
        if result.promoted:
            assert (
                registry.by_alias(client, result.model_name, registry.CHAMPION).version
                == result.version
            )
        else:
            assert (
                registry.by_alias(client, result.model_name, registry.CHALLENGER).version
                == result.version
            )
    # one training set per scheduled model (on-demand models trained by other tests add theirs)
    counts = dict(_rows(settings, "select model_name, count(*) from ml.training_sets group by 1"))
    assert {name: counts.get(name) for name in models.names()} == dict.fromkeys(models.names(), 1)


def test_a_challenger_below_the_floor_stays_challenger(trained):
    settings, results = trained
    client = registry.configure(settings)
    spec = dataclasses.replace(models.get("churn_risk"), floors={"auc": 1.01})  # unreachable
    result = results["churn_risk"]
    decision = promote.decide(
        spec, client, result.version, result.metrics, None, None, settings=settings
    )
    assert not decision.promoted and "below quality floor" in decision.reason


def test_a_human_can_promote_a_version_and_it_is_audited(trained):
    settings, results = trained
    version = results["churn_risk"].version
    result = run_cli(
        "promote",
        "churn_risk",
        version,
        "--reason",
        "signed off by risk",
        "--json",
        env={"PORTRAIT_HOME": str(settings.home)},
    )
    assert result.returncode == 0, result.stderr
    audit = _rows(
        settings,
        "select decided_by, reason from ml.promotions where model_name = 'churn_risk' "
        "order by decided_at desc limit 1",
    )[0]
    assert "portrait promote" in audit[0] and audit[1] == "signed off by risk"
    listing = json.loads(
        run_cli("models", "--json", env={"PORTRAIT_HOME": str(settings.home)}).stdout
    )
    churn = next(m for m in listing["models"] if m["model"] == "churn_risk")
    assert churn["champion"] == version and "auc" in churn["champion_metrics"]
    missing = run_cli("promote", "churn_risk", "999", env={"PORTRAIT_HOME": str(settings.home)})
    assert missing.returncode == 2 and "no version 999" in missing.stderr


def test_a_tie_keeps_the_champion_and_every_tag_stays_true_through_a_rollback(trained):
    settings, _ = trained
    client = registry.configure(settings)
    champion = registry.by_alias(client, "churn_risk", registry.CHAMPION).version
    again = train("churn_risk", settings=settings, log=lambda _: None)  # the same data: a tie
    assert not again.promoted and "does not beat champion" in again.decision, again.decision
    assert registry.by_alias(client, "churn_risk", registry.CHAMPION).version == champion

    def tags(version: str) -> dict[str, str]:
        return client.get_model_version("churn_risk", version).tags

    promote.override("churn_risk", again.version, reason="try it", settings=settings)
    assert f"by v{again.version}" in tags(champion)["replaced_as_champion"]
    promote.override("churn_risk", champion, reason="rollback", settings=settings)
    assert "rollback" in tags(again.version)["replaced_as_champion"]
    assert "replaced_as_champion" not in tags(champion)


def test_a_champion_alias_moved_outside_portrait_is_flagged_and_repaired(trained):
    settings, _ = trained
    client = registry.configure(settings)
    env = {"PORTRAIT_HOME": str(settings.home)}
    champion = registry.by_alias(client, "churn_risk", registry.CHAMPION).version
    other = next(
        v.version
        for v in client.search_model_versions("name = 'churn_risk'")
        if v.version != champion
    )
    client.set_registered_model_alias(
        "churn_risk", registry.CHAMPION, other
    )  # as the MLflow UI would
    listed = json.loads(run_cli("models", "--json", env=env).stdout)["models"]
    drift = next(m for m in listed if m["model"] == "churn_risk")["alias_drift"]
    assert drift and f"v{other}" in drift and f"v{champion}" in drift
    assert run_cli("promote", "churn_risk", champion, env=env).returncode == 0
    assert promote.alias_drift(client, "churn_risk", settings) is None


def test_scoring_is_idempotent_and_slices_add_up_to_the_whole(trained):
    settings, _ = trained
    whole = score("churn_risk", settings=settings, log=lambda _: None)
    full = dict(
        _rows(
            settings,
            "select customer_id, score from ml.customer_scores where model_name = 'churn_risk'",
        )
    )
    assert whole.customers == len(full) > 0
    as_of = date.fromisoformat(whole.as_of_date)
    for index in range(3):
        score(
            "churn_risk",
            as_of=as_of,
            slice_index=index,
            slices=3,
            settings=settings,
            log=lambda _: None,
        )
    again = dict(
        _rows(
            settings,
            "select customer_id, score from ml.customer_scores where model_name = 'churn_risk'",
        )
    )
    assert again == full
    # many small chunks score the same rows as one; setup is part of the slice's time
    chunked = score("churn_risk", settings=settings, chunk_rows=40, drift=False, log=lambda _: None)
    assert chunked.customers == whole.customers
    assert 0 < chunked.setup_seconds < chunked.seconds
    assert (
        dict(
            _rows(
                settings,
                "select customer_id, score from ml.customer_scores where model_name = 'churn_risk'",
            )
        )
        == full
    )
    versions = _rows(
        settings,
        "select distinct model_version, as_of_date from ml.customer_scores where model_name = 'churn_risk'",
    )
    assert versions == [(whole.model_version, as_of)]
    drift = _rows(
        settings,
        "select count(*) from ml.feature_drift where model_name = 'churn_risk' and feature = 'score'",
    )
    assert drift[0][0] == 1
    with pytest.raises(InputError, match="slice"):
        score("churn_risk", as_of=as_of, slice_index=3, slices=3, settings=settings)
    # parallel slices of an offer model read the frame prepare() pivoted: for another date they
    # refuse instead of scoring with another date's offer context
    with pytest.raises(InputError, match="scoring cache"):
        score(
            "response_propensity",
            as_of=date(2025, 3, 1),
            slice_index=0,
            slices=2,
            settings=settings,
        )


def test_scoring_reads_exactly_the_stored_features(trained):
    """Scoring reads the numeric features packed in one field and the offers packed per chunk:
    what it predicts on must equal the typed columns (NaN where null), chunk by chunk."""
    import numpy as np
    import pandas as pd
    from portrait.ml.score import _chunks, _offers, _prepare

    settings, _ = trained
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        offers = _offers(conn)
        as_of = _prepare(conn, None, offers)
        read = pd.concat(list(_chunks(conn, as_of, 1, 0, 200, offers)), ignore_index=True)
        # a value holding the separator of the fast path: that chunk is read as arrays
        one, occupation = conn.execute(
            "select customer_id, occupation from ml.customer_features where as_of_date = %s "
            "and occupation is not null limit 1",
            (as_of,),
        ).fetchone()
        update = "update ml.customer_features set occupation = %s where as_of_date = %s and customer_id = %s"
        conn.execute(update, ("odd\x1fvalue", as_of, one))
        odd = pd.concat(list(_chunks(conn, as_of, 1, 0, 200, offers)), ignore_index=True)
        conn.execute(update, (occupation, as_of, one))
        cur = conn.execute(
            f"select customer_id, bucket, {', '.join(features.FEATURES)} from ml.customer_features "
            "where as_of_date = %s order by customer_id",
            (as_of,),
        )
        typed = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        views = conn.execute(
            "select customer_id, product_id, offered_product_views_90d, is_held from ml.customer_offer_context "
            "where as_of_date = %s and (offered_product_views_90d > 0 or is_held)",
            (as_of,),
        ).fetchall()
    read = read.sort_values("customer_id", ignore_index=True)
    odd = odd.sort_values("customer_id", ignore_index=True)
    assert odd.loc[odd["customer_id"] == one, "occupation"].tolist() == ["odd\x1fvalue"]
    changed = odd["customer_id"] == one
    pd.testing.assert_frame_equal(odd[~changed], read[~changed])
    assert read["customer_id"].tolist() == typed["customer_id"].tolist()
    assert read["bucket"].tolist() == typed["bucket"].tolist()
    for name in features.CATEGORICAL:
        assert read[name].tolist() == typed[name].fillna("unknown").tolist(), name
    expected = typed[features.NUMERIC].astype(float).to_numpy()
    assert np.array_equal(read[features.NUMERIC].to_numpy(), expected, equal_nan=True)
    assert np.isnan(expected).any()  # nulls travel as NaN
    by_customer = read.set_index("customer_id")
    offered = {product for product, _ in offers}
    views = [v for v in views if v[1] in offered]
    assert views
    for customer, product, seen, held in views:
        if customer not in by_customer.index:  # context of a customer no longer active
            continue
        assert by_customer.at[customer, f"__views_{product}"] == seen
        assert by_customer.at[customer, f"__held_{product}"] == held


def test_bi_answers_churn_risk_by_segment_with_one_join(trained):
    """The BI role reads champion scores in marts.customer_scores, banded, with their version."""
    settings, _ = trained
    score("churn_risk", settings=settings, log=lambda _: None)
    publish_scored_marts(settings)
    with warehouse.connect(warehouse.bi_url(settings)) as conn:
        rows = conn.execute(
            "select g.segment_code, s.score_band, count(*), min(s.model_version) from marts.customer_scores s "
            "join marts.customer_segments g using (customer_id) where s.model_name = 'churn_risk' group by 1, 2"
        ).fetchall()
        active = conn.execute(
            "select count(*) from marts.customer_portrait where is_active"
        ).fetchone()[0]
    assert rows and {band for _, band, _, _ in rows} <= {"low", "medium", "high"}
    assert sum(count for _, _, count, _ in rows) == active, "one churn score per active customer"
    champion = registry.by_alias(
        registry.configure(settings), "churn_risk", registry.CHAMPION
    ).version
    assert {version for *_, version in rows} == {champion}


def test_scores_become_next_best_offers_and_a_target_list_that_respects_consent(trained):
    settings, results = trained
    if not results["response_propensity"].promoted:
        promote.override(
            "response_propensity", results["response_propensity"].version, settings=settings
        )
    score("response_propensity", settings=settings, log=lambda _: None)
    score("customer_segmentation", settings=settings, log=lambda _: None)
    publish_scored_marts(settings)
    offers = _rows(settings, "select count(*), count(reason_codes) from marts.next_best_offer")[0]
    assert offers[0] > 0 and offers[1] >= 0.95 * offers[0]
    scored_held = _rows(
        settings,
        "select count(*) from ml.customer_scores s join marts.dim_account a using (customer_id, product_id) "
        "where s.model_name = 'response_propensity' and a.closed_date is null",
    )
    assert scored_held[0][0] == 0, "products a customer holds are not scored as offers"
    held = _rows(
        settings,
        "select count(*) from marts.next_best_offer o join marts.dim_account a "
        "on a.customer_id = o.customer_id and a.product_id = o.product_id and a.closed_date is null",
    )
    assert held[0][0] == 0
    risky = _rows(
        settings,
        "select count(*) from marts.next_best_offer o join intermediate.offer_catalogue c using (product_id) "
        "join marts.customer_portrait p using (customer_id) where c.is_credit and (p.has_delinquent_loan or p.has_defaulted_loan)",
    )
    assert risky[0][0] == 0
    unconsented = _rows(
        settings,
        "select count(*) from marts.campaign_target_list t join marts.customer_portrait p using (customer_id) "
        "where not case t.channel when 'app' then p.consent_app when 'email' then p.consent_email "
        "when 'sms' then p.consent_sms else p.consent_phone end",
    )
    assert unconsented[0][0] == 0
    groups = dict(
        _rows(settings, "select contact_group, count(*) from marts.campaign_target_list group by 1")
    )
    share = groups.get("control", 0) / sum(groups.values())
    assert 0.03 < share < 0.2
    clusters = _rows(settings, "select count(ml_cluster_name) from marts.customer_segments")[0][0]
    assert clusters > 0
    bi = _rows(
        settings,
        "select has_table_privilege(%s, 'marts.next_best_offer', 'select')",
        warehouse.BI_ROLE,
    )
    assert bi[0][0] is True
    before = _rows(
        settings,
        "select md5(string_agg(t::text, '|' order by t::text)) from marts.campaign_target_list t",
    )
    publish_scored_marts(settings)
    assert (
        _rows(
            settings,
            "select md5(string_agg(t::text, '|' order by t::text)) from marts.campaign_target_list t",
        )
        == before
    )


def test_an_out_of_range_score_is_refused_and_the_published_offers_stay(trained):
    settings, _ = trained
    digest = "select md5(string_agg(t::text, '|' order by t::text)) from marts.next_best_offer t"
    before = _rows(settings, digest)
    assert _rows(settings, "select count(*) from marts.next_best_offer")[0][0] > 0
    bad = "update ml.customer_scores set score = score + 1 where model_name = 'response_propensity'"
    fix = "update ml.customer_scores set score = score - 1 where model_name = 'response_propensity'"
    with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
        conn.execute(bad)
    try:
        with pytest.raises(GateFailed, match="propensity"):
            publish_scored_marts(settings)
    finally:
        with warehouse.connect(warehouse.owner_url(settings), autocommit=True) as conn:
            conn.execute(fix)
    assert _rows(settings, digest) == before
