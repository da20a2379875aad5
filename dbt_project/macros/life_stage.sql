{# Life stage of a customer on a day: corporate, or by retail age (young < 30 <= family < 45 <= mature < 60 <= senior). #}
{% macro life_stage(customer_type, birth_date, on_date) -%}
    case
        when {{ customer_type }} = 'corporate' then 'corporate'
        when extract(year from age({{ on_date }}, {{ birth_date }})) < 30 then 'young'
        when extract(year from age({{ on_date }}, {{ birth_date }})) < 45 then 'family'
        when extract(year from age({{ on_date }}, {{ birth_date }})) < 60 then 'mature'
        else 'senior'
    end
{%- endmacro %}
