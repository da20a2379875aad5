{# The select is the macro staged_accounts (macros/staged_landing.sql), which the transactions upsert reads too. #}
{{ staged_accounts() }}
