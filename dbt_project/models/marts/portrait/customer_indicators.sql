{#- The portrait in long format for BI tools: one row per customer and numeric or boolean indicator
    (booleans as 1/0). Text indicators stay in customer_portrait. -#}
{%- set skip = ['customer_id', 'as_of_date'] -%}
{%- set numeric_columns = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(ref('customer_portrait')) -%}
        {%- if column.name not in skip and (column.is_number() or column.dtype == 'boolean') -%}
            {%- do numeric_columns.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

select
    portrait.customer_id,
    indicators.indicator,
    indicators.value,
    portrait.as_of_date
from {{ ref('customer_portrait') }} as portrait
cross join lateral (
    values
    {% for column in numeric_columns -%}
        ('{{ column.name }}', {% if column.dtype == 'boolean' %}portrait.{{ column.name }}::int::numeric{% else %}portrait.{{ column.name }}::numeric{% endif %}){{ "," if not loop.last }}
    {% endfor %}
    {%- if numeric_columns | length == 0 %}(null::text, null::numeric){% endif %}
) as indicators (indicator, value)
where indicators.value is not null
