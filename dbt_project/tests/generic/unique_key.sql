{#
  A table's grain: no two rows share the values of `columns` (NULLs compare equal, as in GROUP BY).
  Returns each duplicated combination with its row count.
#}
{% test unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
