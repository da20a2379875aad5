{#
  Post-hook for the intermediate models (dbt_project.yml): the views over a table that dbt
  replaces are moved to the new table in the same transaction, instead of being dropped with the
  old one.

  dbt builds a table model, and an incremental model on a full refresh, beside the old table,
  renames the old one to <name>__dbt_backup and the new one into place, runs the post-hooks,
  commits, and then drops the backup with CASCADE, taking every view over it along: the
  published fact views (marts.fct_transactions, marts.fct_digital_events read the incremental
  tables up to the publications' watermark) and any view a user made over an intermediate table.
  BI then found no marts.fct_transactions from that moment until the build was published (or
  restored, when the build failed). Here each view that reads the backup is created again with
  the same definition over the new table (CREATE OR REPLACE VIEW: same object, same grants and
  comments), before the swap commits, so readers see the old table, then the new one, and never
  an error. A view the new table cannot serve (a column it no longer has) is left to the
  CASCADE, with a notice; the build's publication creates the published ones again.

  Nothing is emitted for an incremental run (the table is not replaced).
#}
{% macro repoint_dependent_views() -%}
    {%- if not is_incremental() -%}
    {%- set backup = make_backup_relation(this.incorporate(type='table'), 'table').include(database=false) -%}
    do $repoint$
    declare
        dependent record;
    begin
        if to_regclass('{{ backup }}') is null then
            return;
        end if;
        for dependent in
            select distinct viewed.oid::regclass as name, pg_get_viewdef(viewed.oid) as definition
            from pg_depend as dependency
            inner join pg_rewrite as rewrite on rewrite.oid = dependency.objid
            inner join pg_class as viewed on viewed.oid = rewrite.ev_class
            where dependency.classid = 'pg_rewrite'::regclass
              and dependency.refobjid = '{{ backup }}'::regclass
              and viewed.oid <> dependency.refobjid
              and viewed.relkind = 'v'
        loop
            begin
                execute format('create or replace view %s as %s', dependent.name,
                    replace(dependent.definition, '{{ backup.identifier }}', '{{ this.identifier }}'));
            exception when others then
                raise notice 'view % cannot read the rebuilt % (%): dropped with the old table',
                    dependent.name, '{{ this }}', sqlerrm;
            end;
        end loop;
    end
    $repoint$
    {%- endif -%}
{%- endmacro %}
