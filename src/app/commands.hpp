// The sub-commands of the shepherd binary. Each returns the process exit status.
#pragma once

#include <optional>
#include <string>

namespace shepherd::app {

struct ServeOptions {
  std::string config_path;  // empty: SHEPHERD_CONFIG, then ./shepherd.yaml, then the default
  bool demo = false;        // without a config: serve an in-process mock upstream's models
  std::string listen;       // overrides server.listen
  std::optional<int> threads;
};
int serve(const ServeOptions& options);

struct CheckOptions {
  std::string url = "http://127.0.0.1:8000";
  std::string key;  // empty: SHEPHERD_API_KEY from the environment, if set
  std::string prompt = "Say hello in one short sentence.";
  int timeout_seconds = 60;
};
int check(const CheckOptions& options);

int validate_config(const std::string& path);

}  // namespace shepherd::app
