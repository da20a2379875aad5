{# The build's business date: var('as_of_date') or the latest batch date delivered. #}
{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}
        date '{{ var("as_of_date") }}'
    {%- else -%}
        (select max(batch_date) from {{ source('landing', 'customers') }})
    {%- endif -%}
{%- endmacro %}
