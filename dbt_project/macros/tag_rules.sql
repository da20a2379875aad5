{#
  Reads the tag rules seed at compile time and checks every identifier a rule uses against the
  portrait's columns: a rule naming an unknown indicator stops the build with a clear error.
#}
{% macro tag_rules() %}
    {%- set sql_words = ['and', 'or', 'not', 'in', 'is', 'null', 'true', 'false', 'between', 'like', 'ilike',
                         'case', 'when', 'then', 'else', 'end', 'coalesce', 'abs', 'greatest', 'least'] -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {#- inside a dbt unit test `ref` names the test's fixtures (CTEs), which a query at compile
        time cannot read: the rules and the portrait's columns then come from the built relations -#}
    {%- set rules_table = ref('tag_rules') -%}
    {%- set portrait = ref('customer_portrait') -%}
    {%- if rules_table.identifier.startswith('__dbt__cte__') -%}
        {%- set rules_table = api.Relation.create(database=target.database, identifier='tag_rules',
                                                  schema=generate_schema_name('intermediate', none)) -%}  {#- seeds' +schema, dbt_project.yml -#}
        {%- set portrait = api.Relation.create(database=target.database, identifier='customer_portrait',
                                               schema=generate_schema_name(var('marts_schema'), none)) -%}
    {%- endif -%}
    {%- set rows = run_query("select tag, rule, description, owner from " ~ rules_table ~ " order by tag") -%}
    {%- set portrait_columns = adapter.get_columns_in_relation(portrait) | map(attribute='name') | list -%}
    {%- if portrait_columns | length == 0 -%}
        {{ exceptions.raise_compiler_error("customer_portrait is not built in schema " ~ portrait.schema ~ ": build it before customer_tags (e.g. --select 'customer_portrait customer_tags')") }}
    {%- endif -%}
    {%- set rules = [] -%}
    {%- for row in rows -%}
        {%- set without_strings = modules.re.sub("'[^']*'", "", row['rule']) -%}
        {%- for word in modules.re.findall('[A-Za-z_][A-Za-z0-9_]*', without_strings) -%}
            {%- if word | lower not in sql_words and word | lower not in portrait_columns -%}
                {{ exceptions.raise_compiler_error("tag rule '" ~ row['tag'] ~ "' names unknown indicator '" ~ word ~ "' (seed tag_rules; known indicators are the columns of customer_portrait)") }}
            {%- endif -%}
        {%- endfor -%}
        {%- do rules.append(row) -%}
    {%- endfor -%}
    {{ return(rules) }}
{% endmacro %}

