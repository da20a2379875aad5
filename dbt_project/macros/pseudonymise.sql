{#
  Pseudonymous key for a natural id: the first 128 bits of sha256(secret key || ':' || id), in hex.
  The key lives in raw.pseudonym_key (pipeline only), so it never appears in compiled SQL;
  `portrait build` writes it from PORTRAIT_PSEUDONYM_KEY or the generated secret.
#}
{% macro pseudonymise(column) -%}
    left(encode(sha256(convert_to((select key from raw.pseudonym_key) || ':' || {{ column }}, 'UTF8')), 'hex'), 32)
{%- endmacro %}
