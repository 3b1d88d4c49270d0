// The models of `kind: fastchat` providers, as their controllers (or workers) list them: polled
// on the control thread, so that models of FastChat workers appear in the gateway as workers
// register and leave it as they go (docs/decisions/fastchat.md).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "net/asio.hpp"

namespace shepherd::server {

// Every provider.fastchat.refresh while alive(): the provider's model names (POST
// {base_url}/list_models of a controller, else /worker_get_status of a worker), sorted, given to
// report() each time they change (and the first time). Before a model is reported, the
// conversation template of a worker serving it is learned (fastchat::TemplateBook) unless the
// provider pins one. A provider that does not answer keeps its last list.
net::Task<void> discover_models(config::ProviderConfig provider, std::function<bool()> alive,
                                std::function<void(std::vector<std::string>)> report);

}  // namespace shepherd::server
