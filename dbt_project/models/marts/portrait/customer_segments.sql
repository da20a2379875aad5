{#- Segment of every customer as of the build date (rule-based STP) beside the ML cluster. -#}
{{ config(schema=var('scores_schema', var('marts_schema')), tags=['scores'],
          post_hook=["{{ ensure_index(this, 'customer_id') }}"]) }}  {# the API reads one customer #}
{#- tag scores: rebuilt after each scoring run into a side schema and swapped in (portrait.build.publish_scored_marts) -#}
with portrait as (
    select customer_id, as_of_date, date_trunc('month', as_of_date)::date as as_of_month from {{ ref('customer_portrait') }}
)

select
    portrait.customer_id,
    portrait.as_of_date,
    segments.segment_code,
    catalogue.segment_name,
    catalogue.strategy as segment_strategy,
    segments.value_tier,
    segments.life_stage,
    segments.is_engaged,
    clusters.score::integer as ml_cluster,
    clusters.score_label as ml_cluster_name
from portrait
inner join {{ ref('int_customer_segments_monthly') }} as segments
    on portrait.customer_id = segments.customer_id and portrait.as_of_month = segments.month_start
left join {{ ref('segment_catalogue') }} as catalogue on segments.segment_code = catalogue.segment_code
left join {{ ref('stg_ml__customer_scores') }} as clusters
    on portrait.customer_id = clusters.customer_id and clusters.model_name = 'customer_segmentation'
