{# The select is the macro staged_products (macros/staged_landing.sql), which the transactions upsert reads too. #}
{{ staged_products() }}
