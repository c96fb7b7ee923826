// Chat templates of real models rendered by hayate against what transformers renders
// (tests/data/chat/expected.json, made by tools/reference/chat_templates.py), plus the API, syntax
// errors, runtime errors and the guards against runaway templates.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "chat/template.h"
#include "core/error.h"

namespace hayate::chat {
namespace {

using ojson = nlohmann::ordered_json;

const std::string kDataDir = std::string(HAYATE_TESTDATA) + "/chat";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ojson read_json(const std::string& path) { return ojson::parse(read_file(path)); }

std::string render(const std::string& source, const ojson& extra = nullptr, bool add_generation_prompt = false) {
  static const ojson messages = ojson::parse(R"([{"role": "user", "content": "hi"}])");
  return ChatTemplate(source, "<s>", "</s>").render(messages, add_generation_prompt, extra);
}

// The message of the Error(BadInput) that parsing or rendering `source` throws ("" if none).
std::string error_of(const std::string& source, const Limits& limits = {}) {
  try {
    ChatTemplate t(source, "<s>", "</s>");
    t.set_limits(limits);
    t.render(ojson::parse(R"([{"role": "user", "content": "hi"}])"), true);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  return "";
}

TEST(ChatTemplateReference, EveryConversationMatchesTransformers) {
  const ojson conversations = read_json(kDataDir + "/conversations.json")["conversations"];
  const ojson expected = read_json(kDataDir + "/expected.json");
  ASSERT_GT(expected.size(), 200u);
  std::map<std::string, ChatTemplate> templates;
  std::map<std::string, std::pair<int, int>> passed;  // template -> (passed, cases)
  for (const ojson& c : expected) {
    const std::string name = c["template"];
    if (!templates.count(name)) {
      const ojson tokens = read_json(kDataDir + "/templates/" + name + ".json");
      auto token = [&](const char* key) { return tokens[key].is_string() ? tokens[key].get<std::string>() : ""; };
      templates.emplace(name, ChatTemplate(read_file(kDataDir + "/templates/" + name + ".jinja"), token("bos_token"),
                                           token("eos_token")));
    }
    const ojson& messages = conversations.at(c["conversation_index"].get<size_t>())["messages"];
    const bool agp = c["add_generation_prompt"];
    SCOPED_TRACE(name + " conversation " + c["conversation_index"].dump() + " add_generation_prompt " +
                 (agp ? "true" : "false") + " extra " + c["extra"].dump());
    bool ok = false;
    try {
      const std::string got = templates.at(name).render(messages, agp, c["extra"]);
      if (c.contains("expected")) {
        EXPECT_EQ(got, c["expected"].get<std::string>());
        ok = got == c["expected"].get<std::string>();
      } else {
        ADD_FAILURE() << "transformers raised \"" << c["error"].get<std::string>() << "\" but hayate rendered:\n"
                      << got;
      }
    } catch (const Error& e) {
      if (c.contains("error")) {
        EXPECT_EQ(e.kind(), ErrorKind::BadInput);
        EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos) << e.what();
        ok = std::string(e.what()).find(c["error"].get<std::string>()) != std::string::npos;
      } else {
        ADD_FAILURE() << "hayate raised: " << e.what();
      }
    }
    auto& [good, total] = passed[name];
    good += ok ? 1 : 0;
    ++total;
  }
  for (const auto& [name, counts] : passed) {
    std::printf("  %-12s %d/%d cases identical to transformers\n", name.c_str(), counts.first, counts.second);
  }
  EXPECT_GE(passed.size(), 8u);
}

TEST(ChatTemplate, VariablesTransformersProvides) {
  const std::string source =
      "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ messages|length }}|{{ tools }}|"
      "{{ documents }}|{{ enable_thinking is defined }}";
  EXPECT_EQ(render(source), "<s>|</s>|False|1|None|None|False");
  EXPECT_EQ(render(source, ojson{{"enable_thinking", false}, {"tools", ojson::array()}}, true),
            "<s>|</s>|True|1|[]|None|True");
}

TEST(ChatTemplate, MessagesFromStructsWithExtraKeys) {
  const ChatTemplate t("{% for m in messages %}{{ m.role }}:{{ m.content }}:{{ m.name | default('-') }};{% endfor %}");
  const std::vector<Message> messages = {{"system", "be brief", nullptr},
                                         {"user", "hi", nlohmann::json{{"name", "ann"}}}};
  EXPECT_EQ(t.render(messages, false), "system:be brief:-;user:hi:ann;");
}

TEST(ChatTemplate, ObjectKeyOrderIsKeptForTojson) {
  const ChatTemplate t("{{ tools | tojson }}");
  const ojson tools =
      ojson::parse(R"([{"type": "function", "function": {"name": "f", "arguments": {"z": 1, "a": 2}}}])");
  EXPECT_EQ(t.render(ojson::array(), false, ojson{{"tools", tools}}),
            R"([{"type": "function", "function": {"name": "f", "arguments": {"z": 1, "a": 2}}}])");
  // nlohmann::json sorts keys, as its std::map does
  EXPECT_EQ(t.render(nlohmann::json::array(), false, nlohmann::json{{"tools", nlohmann::json::parse(tools.dump())}}),
            R"([{"function": {"arguments": {"a": 2, "z": 1}, "name": "f"}, "type": "function"}])");
}

TEST(ChatTemplate, RaiseExceptionCarriesTheTemplatesMessage) {
  const std::string what =
      error_of("{% if messages[0].role == 'user' %}{{ raise_exception('No users allowed!') }}{% endif %}");
  EXPECT_NE(what.find("No users allowed!"), std::string::npos) << what;
}

TEST(ChatTemplate, SyntaxErrorsNameLineAndColumn) {
  struct Case {
    const char* source;
    const char* where;
    const char* what;
  };
  const Case cases[] = {
      {"{% if x %}\n  abc\n  {% endfor %}", "line 3, column 6", "unknown tag 'endfor'"},
      {"{% for x in y %}\nno end", "line 2, column 7", "looking for 'endfor' or 'else'"},
      {"hello\n{{ 1 + }}", "line 2, column 8", "expected an expression"},
      {"{{ x | nosuchfilter }}", "line 1, column 8", "no filter named 'nosuchfilter'"},
      {"{{ x is nosuchtest }}", "line 1, column 6", "no test named 'nosuchtest'"},
      {"a\nb {{ 'unterminated }}", "line 2, column 6", "unterminated string literal"},
      {"{# never closed", "line 1, column 1", "missing end of comment"},
      {"{{ (1, 2 }}", "line 1, column 10", "unexpected '}', expected ')'"},
      {"{% break %}", "line 1, column 4", "'break' outside a for loop"},
      {"{% include 'other.jinja' %}", "line 1, column 4", "'include' tag is not supported"},
      {"{{ 99999999999999999999 }}", "line 1, column 4", "too large"},
      {"{% set %}", "line 1, column 8", "expected a name"},
      {"{{ x }", "line 1, column 6", "unexpected '}'"},
      {"{{ x ", "line 1, column 1", "'{{' has no '}}'"},
      {"{% macro m(a=1, b) %}{% endmacro %}", "line 1, column 18", "without a default"},
  };
  for (const Case& c : cases) {
    const std::string what = error_of(c.source);
    EXPECT_NE(what.find(c.where), std::string::npos) << c.source << "\n  gave: " << what;
    EXPECT_NE(what.find(c.what), std::string::npos) << c.source << "\n  gave: " << what;
  }
}

TEST(ChatTemplate, RuntimeErrorsAreBadInputWithLocation) {
  EXPECT_NE(error_of("{{ nothing.attr }}").find("'nothing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("line\n{{ messages[0].missing.attr }}").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("{{ nothing + 1 }}").find("'nothing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ 'a' + 1 }}").find("unsupported operand types for +: 'str' and 'int'"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 // 0 }}").find("by zero"), std::string::npos);
  EXPECT_NE(error_of("{{ 9223372036854775807 + 1 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(error_of("{{ nothing | tojson }}").find("not JSON serializable"), std::string::npos);
  EXPECT_NE(error_of("{% for x in 5 %}{% endfor %}").find("'int' object is not iterable"), std::string::npos);
  EXPECT_NE(error_of("{% set x = 1 %}{% set x.y = 2 %}").find("not a namespace"), std::string::npos);
  EXPECT_NE(error_of("{{ 'abc'.nomethod() }}").find("has no attribute 'nomethod'"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 < 'a' }}").find("'<' not supported"), std::string::npos);
}

TEST(ChatTemplate, ListAppendForTemplatesThatBuildLists) {
  // transformers' sandbox forbids list.append; hayate allows it (some GGUF-era templates use it).
  EXPECT_EQ(render("{% set xs = [] %}{% for m in ['a', 'b'] %}{% set _ = xs.append(m) %}{% endfor %}{{ xs }}"),
            "['a', 'b']");
  EXPECT_NE(error_of("{% set xs = [] %}{% set _ = xs.append(xs) %}").find("cannot contain itself"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(x=1) %}{% set ns.x = [ns] %}").find("cannot contain itself"),
            std::string::npos);
}

TEST(ChatTemplate, RunawayTemplatesStopWithAnError) {
  Limits small;
  small.max_steps = 20'000;
  EXPECT_NE(error_of("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", small)
                .find("limit of 20000 steps"),
            std::string::npos);
  // unbounded recursion
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("nests"), std::string::npos);
  small = Limits{};
  small.max_output_bytes = 1 << 20;
  EXPECT_NE(
      error_of("{% set ns = namespace(s='x') %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", small)
          .find("grew past"),
      std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000000 }}").find("grew past"), std::string::npos);
  EXPECT_NE(error_of("{{ range(100000000000) | length }}").find("more than"), std::string::npos);
  EXPECT_NE(error_of("{{ [0] * 100000000000 }}").find("more than"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}")
                .find("nested more than"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}").find("deep"),
            std::string::npos);
  // lists that share sub-lists print and compare as trees: 2^40 nodes here
  std::string dag = "{% set x = [1] %}";
  for (int i = 0; i < 40; ++i) dag += "{% set x = [x, x] %}";
  EXPECT_NE(error_of(dag + "{{ x == [x[0], x[1]] }}").find("step limit"), std::string::npos);
  EXPECT_NE(error_of(dag + "{{ x }}").find("grew past"), std::string::npos);
  EXPECT_NE(error_of(dag + "{{ x | tojson }}").find("grew past"), std::string::npos);
  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  EXPECT_NE(error_of(chain + " }}").find("deep"), std::string::npos);
}

TEST(ChatTemplate, RendersConcurrently) {
  const ChatTemplate t("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{% endfor %}");
  const ojson messages = ojson::parse(R"([{"role": "user", "content": " a "}, {"role": "assistant", "content": "b"}])");
  std::vector<std::thread> threads;
  std::vector<std::string> out(8);
  for (size_t i = 0; i < out.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) out[i] = t.render(messages, false);
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& o : out) EXPECT_EQ(o, "<user>a<assistant>b");
}

}  // namespace
}  // namespace hayate::chat
