{#-
  The grain of the published fact views over millions of rows is enforced, not re-counted: each
  view reads a table with a unique index on its key (the upsert needs it too). Returns each
  table whose unique index is missing. A unique_key test on the views would scan every
  transaction ever loaded on every daily build.
-#}
with expected (view_name, relation_name, key_column) as (
    values
        ('fct_transactions', '{{ ref("int_transactions_deduplicated") }}', 'txn_id'),
        ('fct_digital_events', '{{ ref("int_digital_events_deduplicated") }}', 'event_id')
)

select expected.*
from expected
where not exists (
    select 1
    from pg_index as i
    inner join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
    where i.indrelid = to_regclass(expected.relation_name)
        and i.indisunique
        and i.indnkeyatts = 1
        and a.attname = expected.key_column
)
