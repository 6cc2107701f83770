// tests/core/llm_provider_test.cpp: provider aliases, model strings, endpoints and redaction.
// SPDX-License-Identifier: Apache-2.0
#include <serendip/llm/provider.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <tuple>

namespace serendip::llm {
namespace {

// An environment the test controls, instead of the process's.
EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string header(const Endpoint& endpoint, std::string_view name) {
  for (const auto& [key, value] : endpoint.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

// Runs `f`, which must throw LlmConfigError, and returns the message.
template <class F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const LlmConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no LlmConfigError";
  return {};
}

TEST(LlmProvider, every_alias_resolves_to_its_family_base_url_and_key_variable) {
  using Row = std::tuple<const char*, WireFamily, const char*, const char*, bool>;
  const Row expected[] = {
      {"openai", WireFamily::openai, "https://api.openai.com/v1", "OPENAI_API_KEY", true},
      {"groq", WireFamily::openai, "https://api.groq.com/openai/v1", "GROQ_API_KEY", true},
      {"deepseek", WireFamily::openai, "https://api.deepseek.com", "DEEPSEEK_API_KEY", true},
      {"xai", WireFamily::openai, "https://api.x.ai/v1", "XAI_API_KEY", true},
      {"mistral", WireFamily::openai, "https://api.mistral.ai/v1", "MISTRAL_API_KEY", true},
      {"openrouter", WireFamily::openai, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
       true},
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
  ASSERT_EQ(providers().size(), std::size(expected));
  for (const auto& [alias, family, base_url, key_env, key_required] : expected) {
    SCOPED_TRACE(alias);
    ProviderInfo info = resolve(alias);
    EXPECT_EQ(info.alias, alias);
    EXPECT_EQ(info.family, family);
    EXPECT_EQ(info.base_url, base_url);
    EXPECT_EQ(info.key_env, key_env);
    EXPECT_EQ(info.key_required, key_required);
  }
}

TEST(LlmProvider, aliases_are_case_insensitive) {
  EXPECT_EQ(resolve("OpenAI").alias, "openai");
  EXPECT_EQ(resolve("LMStudio").alias, "lmstudio");
}

TEST(LlmProvider, an_unknown_alias_is_a_config_error_listing_the_known_ones) {
  std::string message = config_error([] { resolve("openia"); });
  EXPECT_NE(message.find("'openia'"), std::string::npos) << message;
  EXPECT_NE(message.find("openai, groq, deepseek"), std::string::npos) << message;
  EXPECT_NE(message.find("anthropic"), std::string::npos) << message;
  // The typed error is also an invalid_argument, for callers that only know the standard ones.
  EXPECT_THROW(resolve("nope"), std::invalid_argument);
}

TEST(LlmProvider, a_model_string_splits_at_the_first_double_colon_and_keeps_later_colons) {
  ModelRef ollama = parse_model("ollama::llama3.2:latest");
  EXPECT_EQ(ollama.provider.alias, "ollama");
  EXPECT_EQ(ollama.model, "llama3.2:latest");

  ModelRef openai = parse_model("openai::gpt-4o-mini");
  EXPECT_EQ(openai.provider.family, WireFamily::openai);
  EXPECT_EQ(openai.model, "gpt-4o-mini");

  EXPECT_EQ(parse_model("openrouter::meta-llama/llama-3.1-8b:free").model,
            "meta-llama/llama-3.1-8b:free");
  EXPECT_EQ(parse_model("vllm::org/model::v2").model, "org/model::v2");
}

TEST(LlmProvider, malformed_model_strings_are_config_errors_that_say_what_is_wrong) {
  EXPECT_NE(config_error([] { parse_model("gpt-4o"); }).find("'provider::model'"),
            std::string::npos);
  EXPECT_NE(config_error([] { parse_model("ollama:llama3"); }).find("'provider::model'"),
            std::string::npos);
  EXPECT_NE(config_error([] { parse_model("::gpt-4o"); }).find("no provider"), std::string::npos);
  EXPECT_NE(config_error([] { parse_model("openai::"); }).find("no model"), std::string::npos);
  std::string unknown = config_error([] { parse_model("claude::sonnet"); });
  EXPECT_NE(unknown.find("'claude'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("anthropic"), std::string::npos) << unknown;
}

TEST(LlmProvider, an_openai_compatible_endpoint_sends_the_key_as_a_bearer_token) {
  Endpoint ep = endpoint(parse_model("groq::llama-3.1-8b-instant"), {},
                         fake_env({{"GROQ_API_KEY", "gsk-from-env"}}));
  EXPECT_EQ(ep.url, "https://api.groq.com/openai/v1/chat/completions");
  EXPECT_EQ(ep.family, WireFamily::openai);
  EXPECT_EQ(header(ep, "Authorization"), "Bearer gsk-from-env");
  EXPECT_EQ(header(ep, "Content-Type"), "application/json");

  Endpoint deepseek = endpoint(parse_model("deepseek::deepseek-chat"), {},
                               fake_env({{"DEEPSEEK_API_KEY", "k"}}));
  EXPECT_EQ(deepseek.url, "https://api.deepseek.com/chat/completions");
}

TEST(LlmProvider, the_key_argument_wins_over_the_environment) {
  Endpoint ep = endpoint(parse_model("openai::gpt-4o"), {.api_key = "sk-argument"},
                         fake_env({{"OPENAI_API_KEY", "sk-env"}}));
  EXPECT_EQ(header(ep, "Authorization"), "Bearer sk-argument");
}

TEST(LlmProvider, a_missing_key_names_the_variable_and_never_shows_any_key) {
  // Another provider's key is set: it must neither be used nor appear in the message.
  auto env = fake_env({{"GROQ_API_KEY", "gsk-secret-123"}, {"OPENAI_API_KEY", ""}});
  std::string message = config_error([&] { endpoint(parse_model("openai::gpt-4o"), {}, env); });
  EXPECT_NE(message.find("OPENAI_API_KEY"), std::string::npos) << message;
  EXPECT_NE(message.find("api_key"), std::string::npos) << message;
  EXPECT_EQ(message.find("gsk-secret-123"), std::string::npos) << message;

  std::string anthropic =
      config_error([&] { endpoint(parse_model("anthropic::claude-sonnet-4"), {}, env); });
  EXPECT_NE(anthropic.find("ANTHROPIC_API_KEY"), std::string::npos) << anthropic;
}

TEST(LlmProvider, a_key_with_a_line_break_is_refused_without_showing_it) {
  std::string message = config_error([] {
    endpoint(parse_model("openai::gpt-4o"), {.api_key = "sk-secret-456\n"}, fake_env({}));
  });
  EXPECT_NE(message.find("control characters"), std::string::npos) << message;
  EXPECT_EQ(message.find("sk-secret-456"), std::string::npos) << message;
}

TEST(LlmProvider, local_servers_need_no_key_and_send_one_only_when_given) {
  Endpoint bare = endpoint(parse_model("vllm::qwen"), {}, fake_env({}));
  EXPECT_EQ(bare.url, "http://localhost:8000/v1/chat/completions");
  EXPECT_EQ(header(bare, "Authorization"), "<absent>");

  Endpoint keyed = endpoint(parse_model("llamacpp::any"), {.api_key = "local-key"}, fake_env({}));
  EXPECT_EQ(keyed.url, "http://localhost:8080/v1/chat/completions");
  EXPECT_EQ(header(keyed, "Authorization"), "Bearer local-key");

  EXPECT_EQ(endpoint(parse_model("lmstudio::m"), {}, fake_env({})).url,
            "http://localhost:1234/v1/chat/completions");
}

TEST(LlmProvider, a_base_url_override_replaces_the_default_without_its_trailing_slash) {
  Endpoint ep = endpoint(parse_model("openai::gpt-4o"),
                         {.base_url = "https://proxy.example.com/v1/", .api_key = "k"},
                         fake_env({}));
  EXPECT_EQ(ep.url, "https://proxy.example.com/v1/chat/completions");
}

TEST(LlmProvider, a_base_url_that_is_not_http_is_refused_without_showing_the_key) {
  std::string message = config_error([] {
    endpoint(parse_model("openai::gpt-4o"),
             {.base_url = "proxy.example.com?key=sk-secret-789", .api_key = "sk-secret-789"},
             fake_env({}));
  });
  EXPECT_NE(message.find("http://"), std::string::npos) << message;
  EXPECT_EQ(message.find("sk-secret-789"), std::string::npos) << message;
}

TEST(LlmProvider, azure_puts_deployment_and_api_version_in_the_url_and_the_key_in_api_key) {
  auto env = fake_env({{"AZURE_OPENAI_API_KEY", "az-key"}});
  Endpoint ep = endpoint(parse_model("azure::my-gpt4o"),
                         {.base_url = "https://contoso.openai.azure.com/"}, env);
  EXPECT_EQ(ep.url,
            "https://contoso.openai.azure.com/openai/deployments/my-gpt4o/chat/completions"
            "?api-version=2024-10-21");
  EXPECT_EQ(header(ep, "api-key"), "az-key");
  EXPECT_EQ(header(ep, "Authorization"), "<absent>");

  Endpoint versioned = endpoint(parse_model("azure::my-gpt4o"),
                                {.base_url = "https://contoso.openai.azure.com",
                                 .api_version = "2025-01-01-preview"},
                                env);
  EXPECT_TRUE(versioned.url.ends_with("?api-version=2025-01-01-preview")) << versioned.url;
}

TEST(LlmProvider, azure_reads_its_endpoint_and_version_from_the_environment) {
  auto env = fake_env({{"AZURE_OPENAI_API_KEY", "az-key"},
                       {"AZURE_OPENAI_ENDPOINT", "https://fabrikam.openai.azure.com"},
                       {"OPENAI_API_VERSION", "2024-06-01"}});
  Endpoint ep = endpoint(parse_model("azure::gpt 4o"), {}, env);
  EXPECT_EQ(ep.url,
            "https://fabrikam.openai.azure.com/openai/deployments/gpt%204o/chat/completions"
            "?api-version=2024-06-01");
}

TEST(LlmProvider, azure_without_an_endpoint_is_a_config_error_naming_both_ways_to_give_one) {
  std::string message = config_error([] {
    endpoint(parse_model("azure::dep"), {}, fake_env({{"AZURE_OPENAI_API_KEY", "az-secret"}}));
  });
  EXPECT_NE(message.find("AZURE_OPENAI_ENDPOINT"), std::string::npos) << message;
  EXPECT_NE(message.find("base_url"), std::string::npos) << message;
  EXPECT_EQ(message.find("az-secret"), std::string::npos) << message;
}

TEST(LlmProvider, ollama_defaults_to_localhost_and_honours_ollama_host) {
  EXPECT_EQ(endpoint(parse_model("ollama::llama3.2"), {}, fake_env({})).url,
            "http://localhost:11434/api/chat");

  auto url_for = [](const std::string& host) {
    return endpoint(parse_model("ollama::llama3.2"), {}, fake_env({{"OLLAMA_HOST", host}})).url;
  };
  EXPECT_EQ(url_for("127.0.0.1:11434"), "http://127.0.0.1:11434/api/chat");
  EXPECT_EQ(url_for("0.0.0.0"), "http://0.0.0.0:11434/api/chat");
  EXPECT_EQ(url_for("gpu-box:8000"), "http://gpu-box:8000/api/chat");
  EXPECT_EQ(url_for(":9000"), "http://127.0.0.1:9000/api/chat");
  EXPECT_EQ(url_for("[::1]"), "http://[::1]:11434/api/chat");
  EXPECT_EQ(url_for("http://[::1]:9999/"), "http://[::1]:9999/api/chat");
  EXPECT_EQ(url_for("https://ollama.example.com"), "https://ollama.example.com/api/chat");
  EXPECT_EQ(url_for("http://box:11434/ollama/"), "http://box:11434/ollama/api/chat");
}

TEST(LlmProvider, an_ollama_base_url_wins_over_ollama_host) {
  Endpoint ep = endpoint(parse_model("ollama::llama3.2"), {.base_url = "http://other:1"},
                         fake_env({{"OLLAMA_HOST", "gpu-box:8000"}}));
  EXPECT_EQ(ep.url, "http://other:1/api/chat");
  EXPECT_EQ(ep.family, WireFamily::ollama);
  EXPECT_EQ(header(ep, "Authorization"), "<absent>");
}

TEST(LlmProvider, anthropic_sends_x_api_key_and_the_api_version) {
  Endpoint ep = endpoint(parse_model("anthropic::claude-sonnet-4-5"), {},
                         fake_env({{"ANTHROPIC_API_KEY", "sk-ant-1"}}));
  EXPECT_EQ(ep.url, "https://api.anthropic.com/v1/messages");
  EXPECT_EQ(ep.family, WireFamily::anthropic);
  EXPECT_EQ(header(ep, "x-api-key"), "sk-ant-1");
  EXPECT_EQ(header(ep, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(header(ep, "Authorization"), "<absent>");
}

TEST(LlmProvider, redact_replaces_every_occurrence_of_the_key) {
  EXPECT_EQ(redact("key=sk-1 and again sk-1.", "sk-1"), "key=*** and again ***.");
  EXPECT_EQ(redact("nothing here", "sk-1"), "nothing here");
  EXPECT_EQ(redact("sk-1sk-1", "sk-1"), "******");
  EXPECT_EQ(redact("no key to hide", ""), "no key to hide");
}

TEST(LlmProvider, process_env_reads_the_real_environment) {
  ASSERT_EQ(::setenv("SERENDIP_LLM_PROVIDER_TEST", "value-1", 1), 0);
  EXPECT_EQ(process_env("SERENDIP_LLM_PROVIDER_TEST"), std::optional<std::string>("value-1"));
  ASSERT_EQ(::unsetenv("SERENDIP_LLM_PROVIDER_TEST"), 0);
  EXPECT_EQ(process_env("SERENDIP_LLM_PROVIDER_TEST"), std::nullopt);
}

}  // namespace
}  // namespace serendip::llm
