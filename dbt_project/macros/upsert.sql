{#
  Incremental strategy `upsert`: insert the new rows and, where the key is already there, update
  the existing row (a later delivery of the same key wins). Needs a unique index on the key (the
  models using it create one in a post-hook). Against delete+insert it saves a delete whose
  semi-join scanned the whole table for every increment (4 s of a 10 s model at 10k customers):
  the unique index is probed by the insert anyway.
#}
{% macro get_incremental_upsert_sql(arg_dict) -%}
    {%- set key = arg_dict["unique_key"] -%}
    {%- if key is not string -%}
        {{ exceptions.raise_compiler_error("incremental_strategy 'upsert' needs one unique_key column, got " ~ key) }}
    {%- endif -%}
    {%- set columns = arg_dict["dest_columns"] -%}
    insert into {{ arg_dict["target_relation"] }} ({{ columns | map(attribute="quoted") | join(", ") }})
    select {{ columns | map(attribute="quoted") | join(", ") }}
    from {{ arg_dict["temp_relation"] }}
    on conflict ({{ adapter.quote(key) }}) do update set
    {%- for column in columns if column.name != key %}
        {{ column.quoted }} = excluded.{{ column.quoted }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
