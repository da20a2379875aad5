{#
  Post-hook for incremental tables: ANALYZE when the table was never analyzed (first build) or
  when this run's own changes exceed `share` of it. A monthly increment adds ~8 % to a year of
  transactions: re-analyzing 5 M rows on every run cost 0.8 s for statistics that barely move;
  the drift of many small increments is left to autovacuum's own analyze (same 10 % rule).
  Hooks run inside the model's transaction, so the pg_stat_get_xact_* counters hold its changes.
#}
{% macro analyze_if_changed(relation, share=0.1) -%}
do $analyze$
declare
    table_oid oid := '{{ relation }}'::regclass;
    estimated real;
begin
    select reltuples into estimated from pg_class where oid = table_oid;
    if estimated < 0 or pg_stat_get_xact_tuples_inserted(table_oid) + pg_stat_get_xact_tuples_updated(table_oid)
                        + pg_stat_get_xact_tuples_deleted(table_oid) > {{ share }} * estimated then
        set local default_statistics_target = 10;  -- a 3,000-row sample, as analyze_sampled()
        execute 'analyze {{ relation }}';
    end if;
end
$analyze$
{%- endmacro %}
