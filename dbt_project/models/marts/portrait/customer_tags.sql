{#- One row per customer and tag that applies, from the declarative rules in seed tag_rules. -#}
{{ config(post_hook=["{{ ensure_index(this, 'customer_id') }}"]) }}  {# the API reads one customer #}
{%- set rules = tag_rules() %}

with portrait as (
    select * from {{ ref('customer_portrait') }}
),

rules as (
    select tag, description, owner from {{ ref('tag_rules') }}
),

tagged as (
    {% for rule in rules %}
    select customer_id, as_of_date, '{{ rule["tag"] }}'::text as tag
    from portrait
    where coalesce(({{ rule["rule"] }}), false)
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
    {% if rules | length == 0 %}
    select null::text as customer_id, null::date as as_of_date, null::text as tag where false
    {% endif %}
)

select
    tagged.customer_id,
    tagged.tag,
    rules.description as tag_description,
    rules.owner as tag_owner,
    tagged.as_of_date
from tagged
inner join rules on tagged.tag = rules.tag
