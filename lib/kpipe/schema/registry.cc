#include "kpipe/schema/registry.h"

#include <curl/curl.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/json/text.h"

namespace kpipe::schema {

const char* SchemaTypeName(SchemaType t) {
  switch (t) {
    case SchemaType::kAvro: return "AVRO";
    case SchemaType::kJson: return "JSON";
    case SchemaType::kProtobuf: return "PROTOBUF";
  }
  return "AVRO";
}

namespace {

bool ParseType(std::string_view name, SchemaType* t) {
  if (name.empty() || name == "AVRO") *t = SchemaType::kAvro;
  else if (name == "JSON") *t = SchemaType::kJson;
  else if (name == "PROTOBUF") *t = SchemaType::kProtobuf;
  else return false;
  return true;
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// The URL with any user:password@ taken out.
std::string Displayed(const std::string& url) {
  size_t scheme = url.find("://");
  size_t from = scheme == std::string::npos ? 0 : scheme + 3;
  size_t at = url.find('@', from);
  size_t slash = url.find('/', from);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, from) + url.substr(at + 1);
}

}  // namespace

struct Registry::Curl {
  CURL* handle = nullptr;
  curl_slist* headers = nullptr;
  simdjson::dom::parser parser;
  ~Curl() {
    if (headers) curl_slist_free_all(headers);
    if (handle) curl_easy_cleanup(handle);
  }
};

Registry::Registry(RegistryOptions opt) : opt_(std::move(opt)), where_(Displayed(opt_.url)) {
  while (!opt_.url.empty() && opt_.url.back() == '/') opt_.url.pop_back();
}

Registry::~Registry() = default;

Result<std::unique_ptr<Registry>> Registry::Open(RegistryOptions opt) {
  std::unique_ptr<Registry> r(new Registry(std::move(opt)));
  r->curl_ = std::make_unique<Curl>();
  r->curl_->handle = curl_easy_init();
  if (!r->curl_->handle) return Status::IOError("schema registry: cannot set up libcurl");
  r->curl_->headers = curl_slist_append(nullptr, "Content-Type: application/vnd.schemaregistry.v1+json");
  r->curl_->headers = curl_slist_append(r->curl_->headers,
                                        "Accept: application/vnd.schemaregistry.v1+json, application/json");
  return r;
}

Status Registry::Call(const char* method, const std::string& path, const std::string& body, long* code,
                      std::string* answer) {
  CURL* h = curl_->handle;
  curl_easy_reset(h);
  std::string url = opt_.url + path;
  answer->clear();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, curl_->headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, answer);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opt_.timeout_ms));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt_.timeout_ms));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  if (!opt_.user_info.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERPWD, opt_.user_info.c_str());
  }
  if (!opt_.ca_location.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opt_.ca_location.c_str());
  if (std::string_view(method) == "POST") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  char err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK)
    return Status::Remote(fmt::format("schema registry {}: {}", where_, *err ? err : curl_easy_strerror(rc)));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
  if (*code == 401 || *code == 403)
    return Status::Remote(fmt::format("schema registry {}: not authorized (HTTP {})", where_, *code));
  return Status::OK();
}

std::string Registry::Reason(const std::string& answer, long code) const {
  simdjson::dom::element doc;
  std::string_view message;
  if (curl_->parser.parse(answer).get(doc) == simdjson::SUCCESS && doc["message"].get(message) == simdjson::SUCCESS)
    return std::string(message);
  return fmt::format("HTTP {}", code);
}

static std::string Escaped(CURL* h, const std::string& s) {
  char* e = curl_easy_escape(h, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : s;
  curl_free(e);
  return out;
}

// The texts of the schemas an answer's "references" name, each preceded by
// its own references.
Status Registry::References(const std::string& answer, std::vector<Reference>* texts, int depth) {
  if (depth > 32) return Status::BadInput("schema registry: references nest too deep");
  struct Ref {
    std::string name, subject;
    int64_t version;
  };
  std::vector<Ref> refs;
  {
    simdjson::dom::element doc;
    simdjson::dom::array list;
    if (curl_->parser.parse(answer).get(doc) != simdjson::SUCCESS) return Status::OK();
    if (doc["references"].get(list) != simdjson::SUCCESS) return Status::OK();
    for (simdjson::dom::element r : list) {
      std::string_view name, subject;
      int64_t version = -1;
      if (r["subject"].get(subject) != simdjson::SUCCESS || r["version"].get(version) != simdjson::SUCCESS)
        return Status::BadInput("schema registry: a reference without subject or version");
      if (r["name"].get(name)) name = {};
      refs.push_back({std::string(name), std::string(subject), version});
    }
  }
  for (const auto& [name, subject, version] : refs) {
    // A schema two others refer to (a diamond) comes once.
    bool seen = false;
    for (const Reference& r : *texts) seen |= r.name == name && !name.empty();
    if (seen) continue;
    long code = 0;
    std::string got;
    KPIPE_RETURN_IF_ERROR(Call("GET", fmt::format("/subjects/{}/versions/{}", Escaped(curl_->handle, subject), version),
                               "", &code, &got));
    if (code != 200)
      return Status::NotFound(fmt::format("schema registry {}: reference {} version {}: {}", where_, subject,
                                          version, Reason(got, code)));
    KPIPE_RETURN_IF_ERROR(References(got, texts, depth + 1));
    simdjson::dom::element doc;
    std::string_view text;
    if (curl_->parser.parse(got).get(doc) != simdjson::SUCCESS || doc["schema"].get(text) != simdjson::SUCCESS)
      return Status::Remote(fmt::format("schema registry {}: an answer without a schema", where_));
    texts->push_back({name, std::string(text)});
  }
  return Status::OK();
}

Result<const RegisteredSchema*> Registry::ById(int32_t id) {
  if (auto it = by_id_.find(id); it != by_id_.end()) return it->second.get();
  long code = 0;
  std::string answer;
  KPIPE_RETURN_IF_ERROR(Call("GET", fmt::format("/schemas/ids/{}", id), "", &code, &answer));
  if (code == 404) return Status::NotFound(fmt::format("schema id {} is not in the registry {}", id, where_));
  if (code != 200)
    return Status::Remote(fmt::format("schema registry {}: schema id {}: {}", where_, id, Reason(answer, code)));
  auto s = std::make_unique<RegisteredSchema>();
  s->id = id;
  {
    simdjson::dom::element doc;
    std::string_view text, type;
    if (curl_->parser.parse(answer).get(doc) != simdjson::SUCCESS || doc["schema"].get(text) != simdjson::SUCCESS)
      return Status::Remote(fmt::format("schema registry {}: schema id {}: an answer without a schema", where_, id));
    if (doc["schemaType"].get(type)) type = {};
    if (!ParseType(type, &s->type))
      return Status::Remote(fmt::format("schema registry {}: schema id {} has an unknown type {}", where_, id, type));
    s->text = std::string(text);
  }
  KPIPE_RETURN_IF_ERROR(References(answer, &s->references, 0));
  const RegisteredSchema* p = s.get();
  by_id_.emplace(id, std::move(s));
  return p;
}

Result<RegisteredSchema> Registry::Latest(const std::string& subject) {
  long code = 0;
  std::string answer;
  KPIPE_RETURN_IF_ERROR(
      Call("GET", fmt::format("/subjects/{}/versions/latest", Escaped(curl_->handle, subject)), "", &code, &answer));
  if (code == 404) return Status::NotFound(fmt::format("subject {} has no schema in the registry {}", subject, where_));
  if (code != 200)
    return Status::Remote(fmt::format("schema registry {}: subject {}: {}", where_, subject, Reason(answer, code)));
  RegisteredSchema s;
  {
    simdjson::dom::element doc;
    std::string_view text, type;
    int64_t id = -1, version = -1;
    if (curl_->parser.parse(answer).get(doc) != simdjson::SUCCESS || doc["schema"].get(text) != simdjson::SUCCESS ||
        doc["id"].get(id) != simdjson::SUCCESS)
      return Status::Remote(fmt::format("schema registry {}: subject {}: an answer without a schema", where_, subject));
    if (doc["version"].get(version)) version = -1;
    if (doc["schemaType"].get(type)) type = {};
    if (!ParseType(type, &s.type))
      return Status::Remote(fmt::format("schema registry {}: subject {} has an unknown type {}", where_, subject, type));
    s.id = static_cast<int32_t>(id);
    s.version = static_cast<int32_t>(version);
    s.text = std::string(text);
  }
  KPIPE_RETURN_IF_ERROR(References(answer, &s.references, 0));
  return s;
}

Status Registry::Refused(const std::string& subject, long code, const std::string& answer) const {
  if (code == 200) return Status::OK();
  if (code == 422)
    return Status::Usage(fmt::format("schema registry {}: subject {}: the schema is invalid: {}", where_, subject,
                                     Reason(answer, code)));
  return Status::Remote(fmt::format("schema registry {}: subject {}: {}", where_, subject, Reason(answer, code)));
}

static std::string Body(SchemaType type, const std::string& text) {
  std::string body = "{\"schema\":";
  json::AppendQuoted(&body, text);
  body += fmt::format(",\"schemaType\":\"{}\"}}", SchemaTypeName(type));
  return body;
}

Result<int32_t> Registry::Register(const std::string& subject, SchemaType type, const std::string& text) {
  long code = 0;
  std::string answer;
  KPIPE_RETURN_IF_ERROR(Call("POST", fmt::format("/subjects/{}/versions", Escaped(curl_->handle, subject)),
                             Body(type, text), &code, &answer));
  if (code == 409)
    return Status::Remote(fmt::format("schema registry {}: subject {} refuses the schema: {}", where_, subject,
                                     Reason(answer, code)));
  KPIPE_RETURN_IF_ERROR(Refused(subject, code, answer));
  simdjson::dom::element doc;
  int64_t id;
  if (curl_->parser.parse(answer).get(doc) != simdjson::SUCCESS || doc["id"].get(id) != simdjson::SUCCESS)
    return Status::Remote(fmt::format("schema registry {}: subject {}: an answer without an id", where_, subject));
  return static_cast<int32_t>(id);
}

Status Registry::CheckCompatible(const std::string& subject, SchemaType type, const std::string& text) {
  long code = 0;
  std::string answer;
  KPIPE_RETURN_IF_ERROR(
      Call("POST", fmt::format("/compatibility/subjects/{}/versions/latest?verbose=true", Escaped(curl_->handle, subject)),
           Body(type, text), &code, &answer));
  if (code == 404) return Status::OK();  // no version yet: anything goes
  KPIPE_RETURN_IF_ERROR(Refused(subject, code, answer));
  simdjson::dom::element doc;
  bool compatible = false;
  if (curl_->parser.parse(answer).get(doc) != simdjson::SUCCESS ||
      doc["is_compatible"].get(compatible) != simdjson::SUCCESS)
    return Status::Remote(fmt::format("schema registry {}: subject {}: an answer without is_compatible", where_, subject));
  if (compatible) return Status::OK();
  std::string why;
  simdjson::dom::array messages;
  if (doc["messages"].get(messages) == simdjson::SUCCESS)
    for (simdjson::dom::element m : messages)
      if (std::string_view s; m.get(s) == simdjson::SUCCESS) why += fmt::format("{}{}", why.empty() ? "" : "; ", s);
  // The subject's level, to say which rule refused it.
  std::string level;
  if (Call("GET", fmt::format("/config/{}?defaultToGlobal=true", Escaped(curl_->handle, subject)), "", &code, &answer).ok() &&
      code == 200) {
    std::string_view l;
    if (curl_->parser.parse(answer).get(doc) == simdjson::SUCCESS &&
        (doc["compatibilityLevel"].get(l) == simdjson::SUCCESS || doc["compatibility"].get(l) == simdjson::SUCCESS))
      level = std::string(l);
  }
  return Status::Remote(fmt::format("schema registry {}: the schema is not compatible with the latest version of "
                                   "subject {}{}{}",
                                   where_, subject, level.empty() ? "" : " (" + level + ")",
                                   why.empty() ? "" : ": " + why));
}

}  // namespace kpipe::schema
