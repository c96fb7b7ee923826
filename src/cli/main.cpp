// hayate: one program, many subcommands; each is a thin client of the library.
#include <iostream>

#include "cli/common.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"hayate: run, serve, convert and inspect language models on CPUs and NVIDIA GPUs (GGUF)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hayate 0.1.0");
  hayate::cli::add_run_command(app);
  hayate::cli::add_chat_command(app);
  hayate::cli::add_info_command(app);
  hayate::cli::add_synth_command(app);
  hayate::cli::add_quantize_command(app);
  hayate::cli::add_convert_command(app);
  hayate::cli::add_tokenize_command(app);
  hayate::cli::add_eval_command(app);
#ifdef HAYATE_HAVE_SERVER
  hayate::cli::add_serve_command(app);
#endif
  hayate::cli::add_gateway_command(app);
  hayate::cli::add_bench_command(app);
  hayate::cli::add_report_command(app);
  hayate::cli::add_compress_command(app);
  hayate::cli::add_decompress_command(app);
  hayate::cli::add_cache_command(app);
  hayate::cli::add_store_commands(app);
  hayate::cli::add_rag_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const hayate::Error& e) {
    std::cerr << "hayate: error: " << e.what() << "\n";
    return hayate::exit_code(e.kind());
  } catch (const std::exception& e) {
    std::cerr << "hayate: internal error: " << e.what() << "\n";
    return hayate::exit_code(hayate::ErrorKind::Internal);
  }
  return 0;
}
