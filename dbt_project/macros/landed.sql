{#
  A landing table as this build sees it: the rows loaded at or before the build's cut (dq.load_cut,
  written by portrait.ingest.batches.take_cut before dbt starts). A batch that lands while the
  build runs has a later load time, so no model sees any of it until the next build. Read as a
  scalar subquery, the cut is one value per query; the staging views keep reading the latest cut
  when a daily build leaves them as they are.
#}
{% macro load_cut() -%}
    (select coalesce(max(cut), 'infinity'::timestamptz) from dq.load_cut)
{%- endmacro %}

{% macro landed(table_name) -%}
    (select * from {{ source('landing', table_name) }} where ingested_at <= {{ load_cut() }}) as {{ table_name }}
{%- endmacro %}
