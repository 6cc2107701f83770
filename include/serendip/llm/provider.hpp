// include/serendip/llm/provider.hpp: provider aliases, "provider::model" strings and endpoints.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <serendip/llm/errors.hpp>
#include <serendip/llm/wire.hpp>

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace serendip::llm {

/// What serendip knows about one provider alias. All views point to static storage.
struct ProviderInfo {
  std::string_view alias;     ///< "openai", "groq", ..., "ollama", "anthropic"
  WireFamily family;
  std::string_view base_url;  ///< default base URL; empty for Azure (it has no default)
  std::string_view key_env;   ///< environment variable holding the key; empty: argument only
  bool key_required;          ///< false for local servers, where a key is optional
};

/// Every known provider, in a fixed order. Thread-safe.
std::span<const ProviderInfo> providers() noexcept;

/// The provider of that alias (case-insensitive). Thread-safe.
/// Throws LlmConfigError listing the known aliases when there is none.
ProviderInfo resolve(std::string_view alias);

/// A parsed "provider::model" string.
struct ModelRef {
  ProviderInfo provider;
  std::string model;  ///< everything after the first "::"; may hold ':' ("llama3.2:latest")
};

/// Splits "provider::model" at the first "::" and resolves the provider. Thread-safe.
/// Throws LlmConfigError when "::" is missing, either part is empty or the provider is unknown.
ModelRef parse_model(std::string_view text);

/// Reads an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

/// The process environment (std::getenv). Safe from any thread as long as nobody calls
/// setenv/putenv at the same time, which is the C library's rule for getenv.
std::optional<std::string> process_env(std::string_view name);

/// What the user may set beside the model string; an empty field means "not given".
/// (The `{}` initialisers let callers name only the fields they set, `{.api_key = k}`, without
/// GCC's -Wmissing-field-initializers.)
struct EndpointOptions {
  std::string base_url{};     ///< wins over OLLAMA_HOST, AZURE_OPENAI_ENDPOINT and the default
  std::string api_key{};      ///< wins over the provider's key environment variable
  std::string api_version{};  ///< Azure only; else OPENAI_API_VERSION, else the default below
};

/// The Messages API version sent in `anthropic-version`.
inline constexpr std::string_view anthropic_api_version = "2023-06-01";
/// The Azure OpenAI data-plane API version used when none is given (the GA release of 2024-10-21).
inline constexpr std::string_view azure_default_api_version = "2024-10-21";

/// Where and how to send a chat request.
///
/// `headers` hold the API key (Authorization, api-key or x-api-key): never log or print them.
struct Endpoint {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  WireFamily family;
  /// The key inside `headers`, kept only to `redact` it from what the provider sends back
  /// (error messages may quote it); empty when none is sent.
  std::string api_key{};
};

/// The URL, headers and family for `ref`. Base URL: `options.base_url`, else OLLAMA_HOST for
/// Ollama (a scheme-less "host:port" is taken as http) or AZURE_OPENAI_ENDPOINT for Azure, else
/// the provider's default. Key: `options.api_key`, else the provider's variable; empty values
/// count as unset. Thread-safe if `env` is.
/// Throws LlmConfigError, before any request and without the key in its message, when a
/// required key or Azure's endpoint is missing, the key holds control characters or the base
/// URL is not http(s).
Endpoint endpoint(const ModelRef& ref, const EndpointOptions& options = {},
                  const EnvLookup& env = process_env);

/// `text` with every occurrence of `key` replaced by "***"; unchanged when `key` is empty.
std::string redact(std::string_view text, std::string_view key);

}  // namespace serendip::llm
