{#- Latest scores per model: the as-of date of the newest scoring run of each model. -#}
with latest as (
    select model_name, max(as_of_date) as as_of_date
    from {{ source('ml', 'customer_scores') }}
    group by model_name
)

select
    scores.customer_id,
    scores.model_name,
    scores.model_version,
    nullif(scores.product_id, '') as product_id,
    scores.score,
    scores.score_label,
    scores.reason_codes,
    scores.as_of_date as scored_as_of_date,
    scores.scored_at
from {{ source('ml', 'customer_scores') }} as scores
inner join latest on scores.model_name = latest.model_name and scores.as_of_date = latest.as_of_date
