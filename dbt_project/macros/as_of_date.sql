{#
  The build's business date: var('as_of_date') or the latest batch date delivered, rendered as a
  date literal (looked up once per model at compile time), so that PostgreSQL sees a constant:
  a range on booked_date then prunes the facts' BRIN index at plan time, where a subquery or a
  joined CTE left it scanning all history (the portrait's 90-day window at 100k customers).
#}
{% macro as_of_date() -%}
    {%- set customers = source('landing', 'customers') -%}
    {%- if var('as_of_date') -%}
        date '{{ var("as_of_date") }}'
    {%- elif execute -%}
        {%- set latest = run_query('select max(batch_date)::text from ' ~ customers).columns[0].values()[0] -%}
        {%- if latest -%} date '{{ latest }}' {%- else -%} null::date {%- endif -%}
    {%- else -%}
        (select max(batch_date) from {{ customers }})
    {%- endif -%}
{%- endmacro %}
