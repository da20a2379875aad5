{#
  The build's business date: var('as_of_date') or the latest batch date delivered, rendered as a
  date literal (looked up once per model at compile time), so that PostgreSQL sees a constant:
  a range on booked_date then prunes the facts' BRIN index at plan time, where a subquery or a
  joined CTE left it scanning all history (the portrait's 90-day window at 100k customers).
#}
{% macro as_of_date() -%}
    {%- set customers = landed('customers') -%}
    {%- if var('as_of_date') -%}
        date '{{ var("as_of_date") }}'
    {%- elif execute -%}
        {%- set latest = run_query('select max(batch_date)::text from ' ~ customers).columns[0].values()[0] -%}
        {%- if latest -%} date '{{ latest }}' {%- else -%} null::date {%- endif -%}
    {%- else -%}
        (select max(batch_date) from {{ landed('customers') }})
    {%- endif -%}
{%- endmacro %}

{# The build's business date as 'YYYY-MM-DD' when dbt executes (none while parsing, or before the
   first delivery): for models that plan their SQL around it (month_windows). #}
{% macro as_of_day() -%}
    {%- if var('as_of_date') -%}
        {%- do return(var('as_of_date') | string) -%}
    {%- elif execute -%}
        {%- set customers = landed('customers') -%}
        {%- do return(run_query('select max(batch_date)::text from ' ~ customers).columns[0].values()[0]) -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}
