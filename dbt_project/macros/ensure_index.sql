{#
  Post-hook: an index on one column of `relation`, created unless the table already has one of
  that kind on that column. PostgreSQL names it. A named `create index if not exists` is not
  enough: when dbt rebuilds a table (a table model, or --full-refresh of an incremental one) it
  runs the post-hooks while the old table, renamed to __dbt_backup, still holds an index of that
  name, so the statement did nothing and the new table was left without its index once the backup
  was dropped (and an `upsert` then failed: no unique index matches ON CONFLICT).
#}
{% macro ensure_index(relation, column, unique=false, method='btree') -%}
do $ensure_index$
begin
    if not exists (
        select 1
        from pg_index as i
        inner join pg_class as index_class on index_class.oid = i.indexrelid
        inner join pg_am as am on am.oid = index_class.relam
        inner join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
        where i.indrelid = '{{ relation }}'::regclass
          and i.indnatts = 1
          and a.attname = '{{ column }}'
          and am.amname = '{{ method }}'
          and i.indisunique = {{ 'true' if unique else 'false' }}
    ) then
        create {{ 'unique ' if unique }}index on {{ relation }} using {{ method }} ({{ adapter.quote(column) }});
    end if;
end
$ensure_index$
{%- endmacro %}
