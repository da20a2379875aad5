{#
  The monthly incremental models (balances, contribution, its ranking, segments) recompute whole
  months: delete+insert on (key, month), and a load-time watermark kept in the table itself.
#}
{% macro monthly_increment_config(key) -%}
    {%- do return({
        'materialized': 'incremental',
        'unique_key': [key, 'month_start'],
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'fail',
        'post_hook': ["{{ ensure_index(this, 'month_start') }}", "{{ analyze_if_changed(this) }}"],
    }) -%}
{%- endmacro %}

{# The latest load the table's months reflect (its `loaded_at`), or -infinity when it is empty. #}
{% macro loaded_watermark() -%}
    (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }})
{%- endmacro %}
