// The Jinja features chat templates use, one hand-written template each. Every expected string
// is what jinja2 3.1 renders with transformers' settings (trim_blocks, lstrip_blocks, loop
// controls, its tojson and {% generation %}), so these pin hayate to Python's behaviour: repr of
// lists, float printing, floor division, case-insensitive sort, undefined values and scoping.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "chat/template.h"
#include "core/error.h"

namespace hayate::chat {
namespace {

struct FeatureCase {
  const char* group;
  const char* name;
  const char* source;
  const char* expected;
};

// Rendered with add_generation_prompt true, bos "<s>", eos "</s>" and the context below.
const FeatureCase kCases[] = {
    {"Whitespace", "trim_blocks", "{% if true %}\nyes\n{% endif %}\nend", "yes\nend"},
    {"Whitespace", "lstrip_blocks", "a\n    {% if true %}\n    b\n    {% endif %}\nc", "a\n    b\nc"},
    {"Whitespace", "minus_both_sides", "a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}\n  c", "abc"},
    {"Whitespace", "minus_on_print", "x  {{- ' y ' -}}  z", "x y z"},
    {"Whitespace", "plus_disables_lstrip", "a\n  {%+ if true %}b{% endif %}", "a\n  b"},
    {"Whitespace", "plus_disables_trim", "{% if true +%}\nb{% endif %}", "\nb"},
    {"Whitespace", "comment", "a {# note #}b\n  {# own line #}\nc{#- x -#}  d", "a b\ncd"},
    {"Whitespace", "print_keeps_newline", "{{ 'a' }}\nb", "a\nb"},
    {"Whitespace", "raw", "{% raw %}{{ not }} {% evaluated %}{% endraw %}!", "{{ not }} {% evaluated %}!"},
    {"Whitespace", "trailing_newline_dropped", "line\n", "line"},
    {"Whitespace", "crlf_normalized", "a\r\nb\rc", "a\nb\nc"},
    {"Whitespace", "lstrip_after_print_same_line", "{{ 'x' }}  {% if true %}y{% endif %}", "x  y"},
    {"Literals", "strings_and_escapes",
     "{{ 'it\\'s' }}|{{ \"tab\\there\" }}|{{ 'a' 'b' }}|{{ '\\u00e9\\x41\\101\\q' }}", "it's|tab\there|ab|éAA\\q"},
    {"Literals", "numbers",
     "{{ 42 }} {{ 1_000 }} {{ 0x1f }} {{ 1.5 }} {{ 1e3 }} {{ 2.5e-7 }} {{ 1e16 }} {{ 0.1 + 0.2 }} {{ -0.0 }}",
     "42 1000 31 1.5 1000.0 2.5e-07 1e+16 0.30000000000000004 -0.0"},
    {"Literals", "constants", "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}", "True True False None None"},
    {"Literals", "containers",
     "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ [] }}",
     "[1, 'a', None, True, 1.5] {'k': 'v', 'n': [1]} (1,) (1, 2) () []"},
    {"Literals", "repr_quotes", "{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n'] }}",
     "[\"it's\", 'say \"hi\"', 'both \\' \"', 'nl\\n']"},
    {"Literals", "print_tuple", "{{ 1, 'a' }}", "(1, 'a')"},
    {"Expressions", "arithmetic",
     "{{ 7 + 2 }} {{ 7 - 2 }} {{ 7 * 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 4 / 2 }}",
     "9 5 14 3.5 3 1 1024 2.0"},
    {"Expressions", "python_division",
     "{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** -1 }}", "-4 2 -2 3.0 0.5 0.5"},
    {"Expressions", "precedence",
     "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 10 - 2 - 3 }} {{ not 1 == 2 }}",
     "7 9 64 4 5 True"},
    {"Expressions", "concat", "{{ 'a' ~ 1 ~ none ~ undefined_thing ~ [1] }}", "a1None[1]"},
    {"Expressions", "string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ [1] * 3 }} {{ [1] + [2] }}",
     "abcd ababab [1, 1, 1] [1, 2]"},
    {"Expressions", "comparisons",
     "{{ 1 < 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] "
     "}} {{ 'a' != 'b' }} {{ 2 >= 2 }} {{ 1 <= 0 }}",
     "True True False True True True True True True False"},
    {"Expressions", "logic",
     "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ none or none }} {{ not '' }} {{ not [1] }}",
     "x b  None True False"},
    {"Expressions", "membership",
     "{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'x' in {'x': 1} }} {{ 3 not in [1, 2] }} {{ 'q' in undefined_thing "
     "}}",
     "True True True True False"},
    {"Expressions", "conditional",
     "{{ 'yes' if 1 else 'no' }} {{ 'yes' if 0 else 'no' }} [{{ 'only' if false }}] {{ 'a' if false else 'b' if true "
     "else 'c' }}",
     "yes no [] b"},
    {"Expressions", "attribute_and_item",
     "{{ messages[1].role }} {{ messages[1]['content'] }} {{ messages[-1].content }} {{ d.y[1] }} {{ d['y'].0 }} [{{ "
     "messages[0].missing }}] [{{ messages[9] }}] [{{ none.x }}]",
     "user Hi there Hello! 2 1 [] [] []"},
    {"Expressions", "slicing",
     "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[-3:] }} {{ nums[1:] }} {{ nums[::2] }} {{ nums[:-1] }} {{ "
     "messages[1:]|length }} {{ 'héllo'[1] }}",
     "el olleh llo [1, 2] [3, 2] [3, 1] 2 é"},
    {"Expressions", "undefined_is_falsy_and_empty",
     "[{{ nothing }}] {{ nothing is defined }} {{ 'y' if not nothing }} {% for x in nothing %}never{% endfor %}{{ "
     "nothing|length }}",
     "[] False y 0"},
    {"Expressions", "tools_documents_none",
     "{{ tools is none }} {{ tools is defined }} {{ documents }} {{ 'no tools' if not tools }}",
     "True True None no tools"},
    {"Statements", "if_elif_else",
     "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %}",
     "one two many "},
    {"Statements", "for_loop_vars",
     "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first "
     "}}{{ loop.last }}{{ loop.length }};{% endfor %}",
     "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;"},
    {"Statements", "for_prev_next_cycle",
     "{% for n in nums %}{{ loop.previtem }}<{{ n }}>{{ loop.nextitem }} {{ loop.cycle('odd', 'even') }}|{% endfor %}",
     "<3>1 odd|3<1>2 even|1<2> odd|"},
    {"Statements", "for_else",
     "{% for x in [] %}x{% else %}empty{% endfor %} {% for x in [1] %}x{% else %}empty{% endfor %}", "empty x"},
    {"Statements", "for_if_filter",
     "{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.role }} {% endfor %}",
     "1/2:user 2/2:assistant "},
    {"Statements", "for_unpacking",
     "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}",
     "x=1;y=[1, 2];37"},
    {"Statements", "for_over_dict_and_string",
     "{% for k in d %}{{ k }}{% endfor %} {% for c in 'abc' %}{{ c }}-{% endfor %}", "xy a-b-c-"},
    {"Statements", "nested_loops",
     "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}",
     "1x1 1y2 1|2x1 2y2 2|"},
    {"Statements", "break_continue",
     "{% for n in range(10) %}{% if n is odd %}{% continue %}{% endif %}{% if n > 6 %}{% break %}{% endif %}{{ n }}{% "
     "endfor %}",
     "0246"},
    {"Statements", "set_scoping",
     "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }} {% endfor %}{{ x }}", "111 111 1"},
    {"Statements", "set_in_if_is_visible", "{% if true %}{% set y = 'set in if' %}{% endif %}{{ y }}", "set in if"},
    {"Statements", "namespace",
     "{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% if "
     "m.role == 'user' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}",
     "3 True"},
    {"Statements", "set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 3, 4 %}{{ t }}", "12(3, 4)"},
    {"Statements", "block_set",
     "{% set greeting %}Hello {{ messages[1].content }}!{% endset %}[{{ greeting }}]{% set up | upper %}shout{% endset "
     "%}{{ up }}",
     "[Hello Hi there!]SHOUT"},
    {"Statements", "macro",
     "{% macro tag(name, body='empty', close=true) %}<{{ name }}>{{ body }}{% if close %}</{{ name }}>{% endif %}{% "
     "endmacro %}{{ tag('a') }}{{ tag('b', 'x') }}{{ tag('c', close=false) }}{{ tag(body='k', name='d') }}",
     "<a>empty</a><b>x</b><c>empty<d>k</d>"},
    {"Statements", "macro_sees_definition_scope",
     "{% set who = 'world' %}{% macro hi() %}hi {{ who }}{% endmacro %}{% for i in [1] %}{{ hi() }}{% endfor %}",
     "hi world"},
    {"Statements", "macro_recursion",
     "{% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(4) }}", "43210"},
    {"Statements", "filter_block", "{% filter upper %}quiet {{ 'words' }}{% endfilter %}", "QUIET WORDS"},
    {"Statements", "with_block", "{% with a = 1, b = 'x' %}{{ a }}{{ b }}{% endwith %}[{{ a }}]", "1x[]"},
    {"Statements", "generation_block", "{% generation %}assistant text{% endgeneration %}", "assistant text"},
    {"Statements", "add_generation_prompt",
     "{% if add_generation_prompt %}{{ bos_token }}gen{{ eos_token }}{% endif %}", "<s>gen</s>"},
    {"Statements", "for_else_after_break_or_continue",
     "{% for x in [1] %}{% break %}{% else %}else ran{% endfor %}|{% for x in [1, 2] %}{% if x == 1 %}{% continue %}{% "
     "endif %}{{ x }}{% else %}E{% endfor %}|{% for x in [1, 2] %}{% continue %}{% else %}E{% endfor %}",
     "else ran|2|E"},
    {"Statements", "unknown_filter_in_branch_not_taken",
     "{% if false %}{{ x|no_such_filter }}{% elif false and x is no_such_test %}?{% endif %}{{ 'ok' if true else "
     "x|no_such_filter }}",
     "ok"},
    {"Statements", "tuple_subscript", "{{ {(1, 2): 'pair'}[1, 2] }}", "pair"},
    {"Filters", "string_filters",
     "{{ text|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'hELLO'|capitalize }}|{{ 'hello big-world (x)'|title }}|{{ "
     "'Ab'|upper }}{{ 'Ab'|lower }}",
     "Hello World|hi|Hello|Hello Big-World (X)|ABab"},
    {"Filters", "length_count_first_last",
     "{{ nums|length }} {{ 'héllo'|length }} {{ d|count }} {{ nums|first }} {{ nums|last }} {{ 'abc'|first }} {{ "
     "'abc'|last }}",
     "3 5 2 3 2 a c"},
    {"Filters", "join", "{{ nums|join(', ') }} {{ names|join }} {{ people|join('/', attribute='name') }}",
     "3, 1, 2 bAa ann/bob/cy"},
    {"Filters", "default",
     "{{ nothing|default('fallback') }} {{ nothing|d('d') }} {{ ''|default('empty') }} {{ ''|default('empty', true) }} "
     "{{ none|default('n') }} {{ 0|default(5, boolean=true) }}",
     "fallback d  empty None 5"},
    {"Filters", "tojson",
     "{{ d|tojson }} {{ 'é \"q\" \\n'|tojson }} {{ [1, 2.5, none, true]|tojson }} {{ {'b': 1, 'a': [1, "
     "{}]}|tojson(indent=2) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ 'é'|tojson(ensure_ascii=true) }}",
     "{\"x\": 1, \"y\": [1, 2]} \"é \\\"q\\\" \\n\" [1, 2.5, null, true] {\n  \"b\": 1,\n  \"a\": [\n    1,\n    {}\n  "
     "]\n} {\"a\": 2, \"b\": 1} \"\\u00e9\""},
    {"Filters", "string_int_float_list",
     "{{ 12|string ~ 'x' }} {{ '42'|int + 1 }} {{ '3.7'|int }} {{ 'x'|int(7) }} {{ '0x1f'|int(base=16) }} {{ 3.9|int "
     "}} {{ '2.5'|float }} {{ 'x'|float }} {{ 'ab'|list }} {{ d|list }}",
     "12x 43 3 7 31 3 2.5 0.0 ['a', 'b'] ['x', 'y']"},
    {"Filters", "items", "{% for k, v in d|items %}{{ k }}:{{ v }} {% endfor %}{{ d|items|list }}",
     "x:1 y:[1, 2] [('x', 1), ('y', [1, 2])]"},
    {"Filters", "replace",
     "{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '', 1) }} {{ 'ab'|replace('', '.') }}",
     "a+b+c ab-c .a.b."},
    {"Filters", "selectattr_rejectattr",
     "{{ people|selectattr('role', 'equalto', 'user')|map(attribute='name')|list }} {{ people|rejectattr('role', 'eq', "
     "'user')|map(attribute='name')|join }} {{ people|selectattr('age', 'gt', 26)|list|length }} {{ "
     "messages|selectattr('role')|list|length }}",
     "['ann', 'cy'] bob 2 3"},
    {"Filters", "select_reject",
     "{{ range(10)|select('odd')|list }} {{ range(10)|reject('divisibleby', 3)|list }} {{ [0, 1, '', 'a', "
     "none]|select|list }}",
     "[1, 3, 5, 7, 9] [1, 2, 4, 5, 7, 8] [1, 'a']"},
    {"Filters", "map",
     "{{ names|map('upper')|list }} {{ people|map(attribute='age')|list }} {{ people|map(attribute='zip', "
     "default='-')|list }} {{ ['1', '2']|map('int')|sum }}",
     "['B', 'A', 'A'] [30, 25, 35] ['-', '-', '-'] 3"},
    {"Filters", "sort_unique_reverse",
     "{{ names|sort }} {{ names|sort(case_sensitive=true) }} {{ nums|sort(reverse=true) }} {{ "
     "people|sort(attribute='age')|map(attribute='name')|join }} {{ names|unique|list }} {{ nums|reverse|list }} {{ "
     "'abc'|reverse }}",
     "['A', 'a', 'b'] ['A', 'a', 'b'] [3, 2, 1] bobanncy ['b', 'A'] [2, 1, 3] cba"},
    {"Filters", "generators_are_always_true",
     "{{ 'yes' if []|select else 'no' }} {{ 'yes' if []|select|list else 'no' }} {{ nums|select('odd')|first }} {{ "
     "([]|map('upper')) is sequence }} {{ nums|reject('odd')|join(',') }}",
     "yes no 3 False 2"},
    {"Filters", "numbers",
     "{{ -3|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 42.55|round(1, 'floor') }} {{ 3|round }} {{ "
     "nums|sum }} {{ nums|min }} {{ nums|max }} {{ names|max }}",
     "3 2.0 4.0 2.67 42.5 3 6 1 3 b"},
    {"Filters", "indent",
     "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('> ', blank=true) }}",
     "a\n  b\n\n  c|  a\n  b|a\n> \n> b"},
    {"Filters", "dictsort_safe_escape_wordcount",
     "{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }} {{ '<b>'|safe }} {{ '<a href=\"x\">&'|escape }} {{ 'one two  "
     "three'|wordcount }}",
     "[('A', 2), ('a', 3), ('b', 1)] <b> &lt;a href=&#34;x&#34;&gt;&amp; 3"},
    {"Filters", "filter_precedence", "{{ 'a' + ' b '|trim }} {{ -3|abs }} {{ 'x'|upper ~ 'y' }} {{ nums|length + 1 }}",
     "ab 3 Xy 4"},
    {"Tests", "type_tests",
     "{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ true is boolean }}{{ true is integer }}{{ 'a' is string "
     "}}{{ d is mapping }}{{ nums is sequence }}{{ 'a' is iterable }}{{ 3 is iterable }}{{ none is none }}{{ range is "
     "callable }}",
     "TrueTrueTrueTrueFalseTrueTrueTrueTrueFalseTrueTrue"},
    {"Tests", "value_tests",
     "{{ 3 is odd }}{{ 3 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ true is true }}{{ 1 is true "
     "}}{{ false is false }}{{ 'a' is eq 'a' }}{{ 2 is gt 1 }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 2 is in [1, "
     "2] }}",
     "TrueFalseTrueFalseTrueFalseTrueTrueTrueTrueTrueTrue"},
    {"Tests", "defined_and_negation",
     "{{ nothing is defined }}{{ nothing is undefined }}{{ messages is defined }}{{ nothing is not defined }}{{ 1 is "
     "not string }}{{ not nothing is defined }}",
     "FalseTrueTrueTrueTrueTrue"},
    {"Methods", "string_methods",
     "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ "
     "'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}",
     "x|hi|x  |  x|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a b', 'c']"},
    {"Methods", "string_methods_2",
     "{{ 'hello'.startswith('he') }}{{ 'hello'.endswith(('x', 'lo')) }}{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}{{ "
     "\"they're bill\".title() }}{{ 'hELLO'.capitalize() }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'hello'.find('l') }}{{ "
     "'hello'.count('l') }}{{ '-'.join(['a', 'b']) }}{{ '12'.isdigit() }}",
     "TrueTrueHIhiThey'Re BillHellobba22a-bTrue"},
    {"Methods", "qwen3_think_split",
     "{% set c = '<think>\\nreason\\n</think>\\n\\nanswer' %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ "
     "c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
     "answer|reason"},
    {"Methods", "list_methods", "{{ [1, 2, 1].count(1) }} {{ nums.index(1) }}", "2 1"},
    {"Methods", "dict_methods",
     "{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ d.get('x') }} {{ d.get('zz', 'dflt') }} {{ "
     "d.get('zz') }}",
     "['x', 'y'] [1, [1, 2]] [('x', 1), ('y', [1, 2])] 1 dflt None"},
    {"Methods", "unicode_strip", "[{{ '\\u3000 wide \\u00a0'.strip() }}] [{{ '\\u3000 wide \\u00a0'|trim }}]",
     "[wide] [wide]"},
    {"Globals", "range", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }} {{ range(0)|list }}",
     "[0, 1, 2] [1, 2, 3] [10, 7, 4, 1] []"},
    {"Globals", "dict_and_namespace_ctor", "{{ dict(a=1, b='x') }} {% set ns = namespace(d) %}{{ ns.x }}",
     "{'a': 1, 'b': 'x'} 1"},
    {"Globals", "joiner", "{% set comma = joiner(', ') %}{% for n in nums %}{{ comma() }}{{ n }}{% endfor %}",
     "3, 1, 2"},

};

const nlohmann::ordered_json& messages() {
  static const auto m = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "sys"}, {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"}])");
  return m;
}

const nlohmann::ordered_json& context() {
  static const auto c = nlohmann::ordered_json::parse(R"({
    "names": ["b", "A", "a"], "nums": [3, 1, 2], "d": {"x": 1, "y": [1, 2]}, "text": "  Hello World  ",
    "people": [{"name": "ann", "age": 30, "role": "user"}, {"name": "bob", "age": 25, "role": "assistant"},
               {"name": "cy", "age": 35, "role": "user"}]})");
  return c;
}

class ChatFeature : public ::testing::TestWithParam<FeatureCase> {};

TEST_P(ChatFeature, RendersAsJinja) {
  const FeatureCase& c = GetParam();
  try {
    const ChatTemplate t(c.source, "<s>", "</s>");
    EXPECT_EQ(t.render(messages(), true, context()), c.expected) << "template: " << c.source;
  } catch (const Error& e) {
    ADD_FAILURE() << e.what() << "\ntemplate: " << c.source;
  }
}

std::string case_name(const ::testing::TestParamInfo<FeatureCase>& info) {
  return std::string(info.param.group) + "_" + info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Jinja, ChatFeature, ::testing::ValuesIn(kCases), case_name);

}  // namespace
}  // namespace hayate::chat
