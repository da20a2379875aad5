{#
  A window of `days` days ending on `as_of` (a 'YYYY-MM-DD' string), cut at month boundaries: the
  months it covers whole, and the parts of the months it covers in part (at most two: where it
  starts and where it ends). A model can then add up the monthly aggregates of the whole months and
  read the transactions themselves only for the parts. Dates are returned as 'YYYY-MM-DD' strings:
    {"first_day": ..., "last_day": ..., "whole_months": [month_start, ...],
     "parts": [{"month_start", "first_day", "last_day", "month_end"}, ...]}
#}
{% macro month_windows(as_of, days) -%}
    {%- set dt = modules.datetime -%}
    {%- set last_day = dt.date.fromisoformat(as_of) -%}
    {%- set first_day = last_day - dt.timedelta(days=days - 1) -%}
    {%- set window = {"first_day": first_day.isoformat(), "last_day": last_day.isoformat(),
                      "whole_months": [], "parts": []} -%}
    {#- a window of up to 400 days spans at most 15 months -#}
    {%- for i in range(15) -%}
        {%- set index = first_day.year * 12 + first_day.month - 1 + i -%}
        {%- set start = dt.date(index // 12, index % 12 + 1, 1) -%}
        {%- set end = dt.date((index + 1) // 12, (index + 1) % 12 + 1, 1) - dt.timedelta(days=1) -%}
        {%- if start <= last_day -%}
            {%- if start >= first_day and end <= last_day -%}
                {%- do window["whole_months"].append(start.isoformat()) -%}
            {%- else -%}
                {%- do window["parts"].append({
                    "month_start": start.isoformat(), "month_end": end.isoformat(),
                    "first_day": ([start, first_day] | max).isoformat(),
                    "last_day": ([end, last_day] | min).isoformat()}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do return(window) -%}
{%- endmacro %}

{#
  Whether reading a month's aggregate less the rest of the month (`outside`) takes fewer days of
  transactions than reading the part itself: the rest is shorter than the part.
#}
{% macro rest_is_shorter(part) -%}
    {%- set day = modules.datetime.date.fromisoformat -%}
    {%- set inside = (day(part.last_day) - day(part.first_day)).days + 1 -%}
    {%- set length = (day(part.month_end) - day(part.month_start)).days + 1 -%}
    {%- do return(length - inside < inside) -%}
{%- endmacro %}

{# The day ranges of a part's month outside the part (before it, after it). #}
{% macro outside(part) -%}
    {%- set day = modules.datetime.date.fromisoformat -%}
    {%- set one = modules.datetime.timedelta(days=1) -%}
    {%- set ranges = [] -%}
    {%- if part.first_day > part.month_start -%}
        {%- do ranges.append({"first_day": part.month_start, "last_day": (day(part.first_day) - one).isoformat()}) -%}
    {%- endif -%}
    {%- if part.last_day < part.month_end -%}
        {%- do ranges.append({"first_day": (day(part.last_day) + one).isoformat(), "last_day": part.month_end}) -%}
    {%- endif -%}
    {%- do return(ranges) -%}
{%- endmacro %}

{# `column` within one of the day ranges (`parts` of month_windows, or any list of first/last days). #}
{% macro within_days(column, ranges) -%}
    {%- if ranges | length == 0 -%} false {%- else -%}
    ({% for r in ranges %}{{ column }} between date '{{ r.first_day }}' and date '{{ r.last_day }}'{{ " or " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{# A SQL list of date literals, or a list that matches nothing. #}
{% macro date_list(days) -%}
    ({% for d in days %}date '{{ d }}'{{ ", " if not loop.last }}{% endfor %}{{ "null::date" if days | length == 0 }})
{%- endmacro %}
