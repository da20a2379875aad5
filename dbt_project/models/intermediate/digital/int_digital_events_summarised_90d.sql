{#
  Per customer, digital engagement as of the build's as-of date: logins over 30 and 90 days,
  product views, app logins and the last login.
  A model of its own so that it runs beside the contribution models as soon as
  int_digital_events_deduplicated is built, instead of on the portrait's critical path
  (0.8 s of the portrait at 10k customers x 12 months).
#}
with as_of as (
    select {{ as_of_date() }} as as_of_date
)

select
    events.customer_id,
    count(*) filter (where events.event_type = 'login' and events.event_date > as_of.as_of_date - 30) as logins_30d,
    count(*) filter (where events.event_type = 'login' and events.event_date > as_of.as_of_date - 90) as logins_90d,
    count(*) filter (where events.event_type = 'product_view' and events.event_date > as_of.as_of_date - 90) as product_views_90d,
    count(*) filter (where events.event_type = 'login' and events.channel = 'app' and events.event_date > as_of.as_of_date - 90)
        as app_logins_90d,
    max(events.event_date) filter (where events.event_type = 'login') as last_login_date
from {{ ref('int_digital_events_deduplicated') }} as events
cross join as_of
where events.event_date <= as_of.as_of_date
group by 1
