#include "kpipe/kafka/config.h"

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

namespace kpipe {

static std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

Status ReadPropertiesFile(const std::string& path, Properties* out) {
  std::ifstream in(path);
  if (!in) return Status::IOError(fmt::format("{}: cannot open configuration file", path));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    n++;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      return Status::Usage(fmt::format("{}:{}: expected KEY=VALUE", path, n));
    out->emplace_back(Trim(line.substr(0, eq)), Trim(line.substr(eq + 1)));
  }
  return Status::OK();
}

Result<Properties> ResolveProperties(const KafkaFlags& flags, const Properties& defaults,
                                     const Properties& overrides) {
  Properties p = defaults;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) {
    std::string path = fmt::format("{}/kpipe/config", xdg);
    if (std::ifstream(path)) KPIPE_RETURN_IF_ERROR(ReadPropertiesFile(path, &p));
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    std::string path = fmt::format("{}/.config/kpipe/config", home);
    if (std::ifstream(path)) KPIPE_RETURN_IF_ERROR(ReadPropertiesFile(path, &p));
  }
  if (const char* f = std::getenv("KPIPE_CONFIG"); f && *f)
    KPIPE_RETURN_IF_ERROR(ReadPropertiesFile(f, &p));
  for (const std::string& f : flags.files) KPIPE_RETURN_IF_ERROR(ReadPropertiesFile(f, &p));

  std::string brokers = flags.brokers;
  if (brokers.empty())
    if (const char* e = std::getenv("KPIPE_BROKERS"); e && *e) brokers = e;
  bool have_bootstrap = false;
  for (const auto& [k, v] : p)
    if (k == "bootstrap.servers" || k == "metadata.broker.list") have_bootstrap = true;
  if (!brokers.empty()) p.emplace_back("bootstrap.servers", brokers);
  else if (!have_bootstrap) p.emplace_back("bootstrap.servers", "localhost:9092");
  for (const auto& kv : overrides) p.push_back(kv);

  for (const std::string& kv : flags.properties) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Status::Usage(fmt::format("-X {}: expected KEY=VALUE", kv));
    p.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return p;
}

Result<schema::RegistryOptions> ResolveRegistry(const KafkaFlags& flags) {
  auto props = ResolveProperties(flags, {});
  if (!props.ok()) return props.status();
  schema::RegistryOptions r;
  r.url = flags.registry;
  if (r.url.empty())
    if (const char* e = std::getenv("KPIPE_REGISTRY"); e && *e) r.url = e;
  if (r.url.empty()) r.url = PropertyValue(*props, "schema.registry.url");
  // Confluent's clients take a comma-separated list: the first answers.
  if (size_t comma = r.url.find(','); comma != std::string::npos) r.url.resize(comma);
  r.user_info = flags.registry_auth;
  if (r.user_info.empty())
    r.user_info = PropertyValue(*props, "schema.registry.basic.auth.user.info", PropertyValue(*props, "basic.auth.user.info"));
  r.ca_location = PropertyValue(*props, "schema.registry.ssl.ca.location");
  return r;
}

bool IsRegistryProperty(std::string_view name) {
  return name.rfind("schema.registry.", 0) == 0 || name.rfind("basic.auth.", 0) == 0;
}

bool IsSecretProperty(std::string_view name) {
  // oauthbearer.config and jaas.config hold credentials inside their values.
  for (std::string_view w : {"password", "secret", "token", "key.pem", "oauthbearer.config",
                             "jaas.config", "user.info"})
    if (name.find(w) != std::string_view::npos) return true;
  return false;
}

// A URL's user:password@ as [redacted]@ (a registry's URL may carry them).
static std::string WithoutUserInfo(const std::string& v) {
  size_t scheme = v.find("://");
  if (scheme == std::string::npos) return v;
  size_t at = v.find('@', scheme + 3);
  size_t slash = v.find('/', scheme + 3);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return v;
  return v.substr(0, scheme + 3) + "[redacted]" + v.substr(at);
}

std::string DescribeProperties(const Properties& props) {
  std::string out;
  for (const auto& [k, v] : props)
    out += fmt::format("{}={}\n", k, IsSecretProperty(k) ? "[redacted]" : WithoutUserInfo(v));
  return out;
}

std::string PropertyValue(const Properties& props, std::string_view name, std::string fallback) {
  for (auto it = props.rbegin(); it != props.rend(); ++it)
    if (it->first == name) return it->second;
  return fallback;
}

}  // namespace kpipe
