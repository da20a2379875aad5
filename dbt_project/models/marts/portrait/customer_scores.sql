{#-
  The latest champion score of every active customer per model (per offered product for
  response_propensity), with the model version and a band BI can group by: one join to
  customer_portrait or customer_segments answers "churn risk by segment". The bands' cut-offs are
  the var score_bands (low below the first, high from the second); a clustering model's band is
  its cluster's name.
-#}
{{ config(schema=var('scores_schema', var('marts_schema')), tags=['scores'],
          post_hook=["{{ ensure_index(this, 'customer_id') }}"]) }}  {# the API reads one customer #}
select
    portrait.customer_id,
    portrait.as_of_date,
    scores.model_name,
    scores.product_id,
    scores.score,
    case
        {%- for model, cuts in var('score_bands').items() %}
        when scores.model_name = '{{ model }}' then
            case when scores.score >= {{ cuts[1] }} then 'high' when scores.score >= {{ cuts[0] }} then 'medium' else 'low' end
        {%- endfor %}
        else scores.score_label
    end as score_band,
    scores.model_version,
    scores.scored_as_of_date,
    scores.reason_codes
from {{ ref('customer_portrait') }} as portrait
inner join {{ ref('stg_ml__customer_scores') }} as scores on portrait.customer_id = scores.customer_id
where portrait.is_active
