#include <charconv>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string_view>

#include "api/json_util.h"
#include "api/openai.h"

namespace hayate::api {

namespace detail {

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

double stable_float(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf) - 1, f);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

}  // namespace detail

ApiError::ApiError(int status_, std::string message, std::string type_, std::string param_, std::string code_)
    : std::runtime_error(std::move(message)),
      status(status_),
      type(std::move(type_)),
      param(std::move(param_)),
      code(std::move(code_)) {}

namespace {

detail::ojson null_if_empty(const std::string& s) { return s.empty() ? detail::ojson(nullptr) : detail::ojson(s); }

}  // namespace

std::string error_json(const ApiError& e) {
  detail::ojson body = {
      {"error",
       {{"message", e.what()}, {"type", e.type}, {"param", null_if_empty(e.param)}, {"code", null_if_empty(e.code)}}}};
  return detail::dump(body);
}

ApiError from_error(const hayate::Error& e) {
  const ErrorKindInfo& k = error_kind_info(e.kind());
  return ApiError(k.http_status, e.what(), k.http_type, "", k.http_code);
}

std::string new_request_id(std::string_view prefix) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng = [] {
    std::random_device dev;
    std::seed_seq seq{dev(), dev(), dev(), dev()};
    return std::mt19937_64(seq);
  }();
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

}  // namespace hayate::api
