// The process's log settings (config log.level and log.format): spdlog's lines as text or as
// one JSON object per line.
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "app/commands.hpp"
#include "base/json_escape.hpp"
#include "config/config.hpp"

namespace shepherd::app {

namespace {

// %* in the JSON pattern: the message as the contents of a JSON string.
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    base::append_json_escaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

}  // namespace

void configure_logging(const config::LogConfig& log, bool level_given) {
  if (!level_given) spdlog::set_level(spdlog::level::from_str(log.level));
  if (!log.json) return;
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
  spdlog::set_formatter(std::move(formatter));
}

}  // namespace shepherd::app
