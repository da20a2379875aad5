{#
  No de-duplication here: the incremental fact de-duplicates only the new batches by key.
  The account id stays the source one: hashing 24k accounts once and joining is far cheaper than
  hashing millions of transaction rows, so fct_transactions takes the pseudonym from the accounts.
  The select is the macro staged_transactions (macros/staged_landing.sql), which the upsert reads too.
#}
{{ staged_transactions() }}
