{#
  The latest delivered version of each key across batches: later batch dates win,
  then later loads of the same date. Snapshot tables are re-delivered whole every batch.
#}
{% macro latest_delivery(table_name, key_columns) -%}
    select distinct on ({{ key_columns | join(', ') }}) *
    from {{ landed(table_name) }}
    order by {{ key_columns | join(', ') }}, batch_date desc, ingested_at desc
{%- endmacro %}
