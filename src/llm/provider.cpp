// src/llm/provider.cpp: the provider table, model strings, endpoints and key redaction.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/provider.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace serendip::llm {

namespace {

// Default base URLs and key variables as each provider documents them.
constexpr ProviderInfo provider_table[] = {
    {"openai", WireFamily::openai, "https://api.openai.com/v1", "OPENAI_API_KEY", true},
    {"groq", WireFamily::openai, "https://api.groq.com/openai/v1", "GROQ_API_KEY", true},
    {"deepseek", WireFamily::openai, "https://api.deepseek.com", "DEEPSEEK_API_KEY", true},
    {"xai", WireFamily::openai, "https://api.x.ai/v1", "XAI_API_KEY", true},
    {"mistral", WireFamily::openai, "https://api.mistral.ai/v1", "MISTRAL_API_KEY", true},
    {"openrouter", WireFamily::openai, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", true},
    {"together", WireFamily::openai, "https://api.together.xyz/v1", "TOGETHER_API_KEY", true},
    {"gemini", WireFamily::openai, "https://generativelanguage.googleapis.com/v1beta/openai",
     "GEMINI_API_KEY", true},
    {"azure", WireFamily::openai, "", "AZURE_OPENAI_API_KEY", true},
    {"vllm", WireFamily::openai, "http://localhost:8000/v1", "", false},
    {"llamacpp", WireFamily::openai, "http://localhost:8080/v1", "", false},
    {"lmstudio", WireFamily::openai, "http://localhost:1234/v1", "", false},
    {"ollama", WireFamily::ollama, "http://localhost:11434", "OLLAMA_API_KEY", false},
    {"anthropic", WireFamily::anthropic, "https://api.anthropic.com", "ANTHROPIC_API_KEY", true},
};

constexpr std::string_view ollama_default_port = "11434";

std::string known_aliases() {
  std::string list;
  for (const ProviderInfo& info : provider_table) {
    if (!list.empty()) list += ", ";
    list += info.alias;
  }
  return list;
}

std::optional<std::string> non_empty(const EnvLookup& env, std::string_view name) {
  if (name.empty()) return std::nullopt;
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

std::string_view trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

std::string without_trailing_slashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// OLLAMA_HOST as Ollama itself reads it: "host", "host:port", "scheme://host[:port][/path]".
// Without a scheme it is plain http on port 11434; an empty host means 127.0.0.1.
std::string ollama_base(std::string_view host) {
  host = trim(host);
  std::string scheme = "http";
  bool scheme_given = false;
  if (auto at = host.find("://"); at != std::string_view::npos) {
    scheme = std::string(host.substr(0, at));
    host.remove_prefix(at + 3);
    scheme_given = true;
  }
  std::string_view path;
  if (auto slash = host.find('/'); slash != std::string_view::npos) {
    path = host.substr(slash);
    host = host.substr(0, slash);
  }
  std::string authority(host);
  if (authority.empty() || authority.front() == ':') authority.insert(0, "127.0.0.1");
  bool bracketed = authority.front() == '[';
  bool has_port = bracketed ? authority.find("]:") != std::string::npos
                            : authority.find(':') != std::string::npos;
  if (!has_port && !scheme_given) authority.append(":").append(ollama_default_port);
  return without_trailing_slashes(scheme + "://" + authority + std::string(path));
}

// Azure deployment names and API versions go into the URL, so anything outside the unreserved
// set is percent-encoded.
std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0x0F];
    }
  }
  return out;
}

std::string base_url_of(const ModelRef& ref, const EndpointOptions& options, const EnvLookup& env) {
  if (!options.base_url.empty()) return without_trailing_slashes(options.base_url);
  if (ref.provider.family == WireFamily::ollama) {
    if (auto host = non_empty(env, "OLLAMA_HOST")) return ollama_base(*host);
  }
  if (ref.provider.alias == "azure") {
    if (auto endpoint = non_empty(env, "AZURE_OPENAI_ENDPOINT")) {
      return without_trailing_slashes(*endpoint);
    }
    throw LlmConfigError(
        "provider 'azure' has no endpoint: pass base_url "
        "(https://{resource}.openai.azure.com) or set AZURE_OPENAI_ENDPOINT");
  }
  return std::string(ref.provider.base_url);
}

std::string api_key_of(const ModelRef& ref, const EndpointOptions& options, const EnvLookup& env) {
  std::string key = options.api_key;
  if (key.empty()) key = non_empty(env, ref.provider.key_env).value_or("");
  std::string_view alias = ref.provider.alias;
  if (key.empty() && ref.provider.key_required) {
    throw LlmConfigError("no API key for provider '" + std::string(alias) +
                         "': pass api_key or set " + std::string(ref.provider.key_env));
  }
  // A CR or LF in a key would split the header it is sent in.
  bool control = std::any_of(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
  });
  if (control) {
    throw LlmConfigError("the API key for provider '" + std::string(alias) +
                         "' contains control characters (a stray newline?)");
  }
  return key;
}

std::string url_of(const ModelRef& ref, const std::string& base, const EndpointOptions& options,
                   const EnvLookup& env) {
  switch (ref.provider.family) {
    case WireFamily::anthropic: return base + "/v1/messages";
    case WireFamily::ollama: return base + "/api/chat";
    case WireFamily::openai: break;
  }
  if (ref.provider.alias != "azure") return base + "/chat/completions";
  std::string version = options.api_version;
  if (version.empty()) {
    version = non_empty(env, "OPENAI_API_VERSION").value_or(std::string(azure_default_api_version));
  }
  return base + "/openai/deployments/" + url_encode(ref.model) +
         "/chat/completions?api-version=" + url_encode(version);
}

}  // namespace

std::span<const ProviderInfo> providers() noexcept { return provider_table; }

ProviderInfo resolve(std::string_view alias) {
  std::string lowered(alias);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const ProviderInfo& info : provider_table) {
    if (info.alias == lowered) return info;
  }
  throw LlmConfigError("unknown LLM provider '" + std::string(alias) +
                       "'; known providers: " + known_aliases());
}

ModelRef parse_model(std::string_view text) {
  auto separator = text.find("::");
  if (separator == std::string_view::npos) {
    throw LlmConfigError("model '" + std::string(text) +
                         "' must be written 'provider::model', such as 'openai::gpt-4o-mini'");
  }
  std::string_view provider = text.substr(0, separator);
  std::string_view model = text.substr(separator + 2);
  if (provider.empty()) {
    throw LlmConfigError("model '" + std::string(text) + "' names no provider before '::'");
  }
  if (model.empty()) {
    throw LlmConfigError("model '" + std::string(text) + "' names no model after '::'");
  }
  return ModelRef{resolve(provider), std::string(model)};
}

std::optional<std::string> process_env(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Endpoint endpoint(const ModelRef& ref, const EndpointOptions& options, const EnvLookup& env) {
  std::string key = api_key_of(ref, options, env);
  std::string base = base_url_of(ref, options, env);
  if (!base.starts_with("http://") && !base.starts_with("https://")) {
    throw LlmConfigError(redact("base URL '" + base + "' of provider '" +
                                    std::string(ref.provider.alias) +
                                    "' must start with http:// or https://",
                                key));
  }

  Endpoint out{url_of(ref, base, options, env), {{"Content-Type", "application/json"}},
               ref.provider.family, key};
  if (ref.provider.family == WireFamily::anthropic) {
    out.headers.emplace_back("x-api-key", key);
    out.headers.emplace_back("anthropic-version", anthropic_api_version);
  } else if (ref.provider.alias == "azure") {
    out.headers.emplace_back("api-key", key);
  } else if (!key.empty()) {
    out.headers.emplace_back("Authorization", "Bearer " + key);
  }
  return out;
}

std::string redact(std::string_view text, std::string_view key) {
  if (key.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (auto at = text.find(key); at != std::string_view::npos; at = text.find(key)) {
    out.append(text.substr(0, at)).append("***");
    text.remove_prefix(at + key.size());
  }
  return out.append(text);
}

}  // namespace serendip::llm
