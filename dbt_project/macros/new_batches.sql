{#
  Batch ids loaded since this incremental model last ran, as a SQL list of literals, so that
  PostgreSQL prunes raw partitions at plan time. Reads the small ingest audit, never the raw data.
#}
{% macro new_batches_since(relation, column='ingested_at') -%}
    {%- if not execute -%}('')
    {%- else -%}
        {%- set query -%}
            select coalesce(string_agg(distinct quote_literal(batch_id), ', '), '''''')
            from dq.ingest_batches
            where status = 'loaded'
              and ingested_at > (select coalesce(max({{ column }}), '-infinity'::timestamptz) from {{ relation }})
        {%- endset -%}
        ({{ run_query(query).columns[0].values()[0] }})
    {%- endif -%}
{%- endmacro %}

{#
  The rows of the batches new to this incremental model (every batch on its first build), one per
  key: a later batch date wins, then a later load of the same date.
#}
{% macro latest_of_new_batches(staged, key) -%}
    select distinct on ({{ key }}) *
    from {{ staged }}
    {% if is_incremental() %}
    where batch_id in {{ new_batches_since(this) }}
    {% endif %}
    order by {{ key }}, batch_date desc, ingested_at desc
{%- endmacro %}
