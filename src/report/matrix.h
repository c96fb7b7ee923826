// The judging half of `hayate report` (issue 23): every measured configuration (model × weight
// format × server) as one row of speed, quality and memory; the Pareto fronts over them; a
// model-selection flowchart and a pick per use case, each from rules that are printed beside it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/results.h"

namespace hayate::report {

struct Config {
  std::string model, format, server;  // server: a serve target's label, or "in-process (backend)"
  std::string source;                 // the file(s) it came from
  // Speed: output tokens/s of one user (concurrency 1, or bench model's tg), of 10 users together
  // (concurrency 10), the best error-free figure of any run; TTFT p90 of one user.
  std::optional<double> tps_1, tps_10, best_tps, ttft_p90_1;
  std::optional<double> ttft_p90_long_prompt;  // the summary workload at its lowest concurrency
  std::optional<double> memory_bytes;          // peak GPU memory in use, else the peak RSS
  std::string memory_basis;                    // "GPU" or "RSS"
  std::optional<double> energy_per_token_j, retention;
  std::map<std::string, double> quality;  // suite -> headline score in [0, 1]

  std::string name() const;  // "model · format · server"
  // The speed the fronts and the flowchart use: one user's output tokens/s.
  std::optional<double> speed() const { return tps_1; }
  std::optional<double> per_user_at_10() const { return tps_10 ? std::optional<double>(*tps_10 / 10) : std::nullopt; }
  std::optional<double> quality_mean() const;
  std::optional<double> tokens_per_s_per_gb() const;
  bool pareto_quality = false, pareto_memory = false;
};

// One row per configuration, eval summaries joined by model and format (and server when two
// rows share those); the Pareto flags set.
std::vector<Config> build_matrix(const std::vector<ResultFile>& files);

// The matrix as text cells (HTML and Markdown escape them): one column per quality suite.
struct MatrixTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> cells;
  std::vector<bool> on_front;  // per row: on either Pareto front (shown highlighted)
  size_t first_numeric = 1;
};
MatrixTable matrix_table(const std::vector<Config>& rows);

// What the matrix's columns mean and what was not measured (no GPU, no quality, no energy).
std::vector<std::string> measurement_notes(const std::vector<ResultFile>& files, const std::vector<Config>& rows);
// "bench serve", "bench model" or "eval SUITE".
std::string kind_name(const ResultFile& f);

// Indices of the points no other point beats on both axes (larger x and larger y are better;
// negate an axis to prefer smaller). Points missing either value are never on the front.
std::vector<size_t> pareto_front(const std::vector<std::optional<double>>& x,
                                 const std::vector<std::optional<double>>& y);

// The model-selection flowchart: two questions and three answers, every threshold taken from
// the measured rows and every rule printed as text.
struct FlowChart {
  struct Leaf {
    std::string title, pick, why;  // pick: "" when no row qualifies (why says so)
  };
  std::string q1, q2;             // the questions, in the diamonds
  Leaf many_users, tight, roomy;  // q1 yes; q1 no -> q2 yes; q2 no
  std::vector<std::string> rules;
  double users_speed = 10;       // tokens/s each of 10 users needs
  std::optional<double> budget;  // the memory threshold of q2 (bytes)
};
FlowChart build_flowchart(const std::vector<Config>& rows);
std::string flowchart_svg(const FlowChart& chart);

// A recommended configuration per use case (chat, code, RAG, batch), with the reason.
struct UseCase {
  std::string use, pick, reason;
};
std::vector<UseCase> recommend_use_cases(const std::vector<Config>& rows);

// Scatter charts of speed against quality and against memory, the front drawn as a line.
std::string pareto_quality_chart(const std::vector<Config>& rows);
std::string pareto_memory_chart(const std::vector<Config>& rows);

}  // namespace hayate::report
