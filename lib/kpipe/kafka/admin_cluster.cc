// kadmin cluster and kadmin acl ... (admin.h).
#include <algorithm>
#include <cctype>
#include <memory>

#include <fmt/format.h>

#include "kpipe/kafka/admin.h"
#include "kpipe/kafka/admin_call.h"
#include "kpipe/kafka/client.h"

namespace kpipe::admin {
namespace {

// librdkafka's names ("READ", "TOPIC", "LITERAL") as kafka-acls.sh's flags
// spell them: lower case, '_' as '-' ("describe-configs").
std::string Lower(const char* name) {
  std::string s = name;
  for (char& c : s) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

json::Row AclRow(const rd_kafka_AclBinding_t* b) {
  json::Row r;
  r.Str("principal", rd_kafka_AclBinding_principal(b));
  r.Str("host", rd_kafka_AclBinding_host(b));
  r.Str("operation", Lower(rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(b))));
  r.Str("permission", Lower(rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(b))));
  r.Str("resource_type", Lower(rd_kafka_ResourceType_name(rd_kafka_AclBinding_restype(b))));
  r.Str("resource", rd_kafka_AclBinding_name(b));
  r.Str("pattern", Lower(rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(b))));
  return r;
}

const char* OrNull(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

struct AclDeleter {
  void operator()(rd_kafka_AclBinding_t* b) const { rd_kafka_AclBinding_destroy(b); }
};
using AclPtr = std::unique_ptr<rd_kafka_AclBinding_t, AclDeleter>;

// The filter (`filter`) or binding that `a` describes.
Result<AclPtr> NewAcl(const Acl& a, bool filter) {
  char err[512];
  rd_kafka_AclBinding_t* b =
      filter ? rd_kafka_AclBindingFilter_new(a.resource_type, OrNull(a.resource), a.pattern, OrNull(a.principal),
                                             OrNull(a.host), a.operation, a.permission, err, sizeof err)
             : rd_kafka_AclBinding_new(a.resource_type, a.resource.c_str(), a.pattern, a.principal.c_str(),
                                       a.host.c_str(), a.operation, a.permission, err, sizeof err);
  if (!b) return Status::Usage(fmt::format("ACL: {}", err));
  return AclPtr(b);
}

bool AclLess(const rd_kafka_AclBinding_t* a, const rd_kafka_AclBinding_t* b) {
  auto key = [](const rd_kafka_AclBinding_t* x) {
    return std::make_tuple(std::string(rd_kafka_AclBinding_principal(x)), static_cast<int>(rd_kafka_AclBinding_restype(x)),
                           std::string(rd_kafka_AclBinding_name(x)), static_cast<int>(rd_kafka_AclBinding_operation(x)),
                           static_cast<int>(rd_kafka_AclBinding_permission_type(x)), std::string(rd_kafka_AclBinding_host(x)));
  };
  return key(a) < key(b);
}

// librdkafka 2.0.2 drops the error code of a DescribeAcls answer: a refusal
// and a broker without an authorizer both come back as an empty listing.
// What the broker says of its authorizer tells them apart where it can: a
// principal that may not read the broker's configs may not read its ACLs
// either, and no authorizer.class.name means ACLs are not in use.
Status ExplainEmptyAcls(rd_kafka_t* rk, int timeout_ms) {
  auto md = FetchMetadata(rk, "", timeout_ms);
  if (!md.ok()) return md.status();
  if ((*md)->broker_cnt == 0) return Status::OK();
  auto set = DescribeConfigs(rk, RD_KAFKA_RESOURCE_BROKER, fmt::format("{}", (*md)->brokers[0].id), timeout_ms,
                             "describe ACLs (reading the broker's configs)");
  if (!set.ok()) return set.status();
  const rd_kafka_ConfigEntry_t** entries = set->entries;
  size_t count = set->count;
  for (size_t i = 0; i < count; i++) {
    if (std::string_view(rd_kafka_ConfigEntry_name(entries[i])) != "authorizer.class.name") continue;
    const char* v = rd_kafka_ConfigEntry_value(entries[i]);
    if (!v || !*v)
      return Status::Kafka("describe ACLs: Security features are disabled: the broker has no authorizer "
                           "(authorizer.class.name is not set)");
  }
  return Status::OK();
}

}  // namespace

Status DescribeCluster(rd_kafka_t* rk, int timeout_ms, json::RowWriter* out) {
  auto md = FetchMetadata(rk, "", timeout_ms);
  if (!md.ok()) return md.status();
  char* id = rd_kafka_clusterid(rk, timeout_ms);
  std::string cluster = id ? id : "";
  if (id) rd_kafka_mem_free(rk, id);
  int32_t controller = rd_kafka_controllerid(rk, timeout_ms);
  std::vector<const rd_kafka_metadata_broker*> brokers;
  for (int i = 0; i < (*md)->broker_cnt; i++) brokers.push_back(&(*md)->brokers[i]);
  std::sort(brokers.begin(), brokers.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (const rd_kafka_metadata_broker* b : brokers) {
    json::Row r;
    if (cluster.empty()) r.Null("cluster_id"); else r.Str("cluster_id", cluster);
    KPIPE_RETURN_IF_ERROR(out->Add(r.Int("broker", b->id).Str("host", b->host).Int("port", b->port)
                                       .Bool("controller", b->id == controller)));
  }
  return out->Flush();
}

Status ListAcls(rd_kafka_t* rk, const Acl& f, int timeout_ms, json::RowWriter* out) {
  auto filter = NewAcl(f, true);
  if (!filter.ok()) return filter.status();
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_DESCRIBEACLS, timeout_ms, "describe ACLs",
                [&](auto* o, auto* q) { rd_kafka_DescribeAcls(rk, filter->get(), o, q); });
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_AclBinding_t** bs =
      rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev->get()), &n);
  if (n == 0) KPIPE_RETURN_IF_ERROR(ExplainEmptyAcls(rk, timeout_ms));
  std::vector<const rd_kafka_AclBinding_t*> sorted(bs, bs + n);
  std::sort(sorted.begin(), sorted.end(), AclLess);
  for (const rd_kafka_AclBinding_t* b : sorted) KPIPE_RETURN_IF_ERROR(out->Add(AclRow(b)));
  return out->Flush();
}

Status CreateAcl(rd_kafka_t* rk, const Acl& a, int timeout_ms, json::RowWriter* out) {
  auto b = NewAcl(a, false);
  if (!b.ok()) return b.status();
  rd_kafka_AclBinding_t* binding = b->get();
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_CREATEACLS, timeout_ms, "create ACLs",
                [&](auto* o, auto* q) { rd_kafka_CreateAcls(rk, &binding, 1, o, q); });
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_acl_result_t** rs = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev->get()), &n);
  for (size_t i = 0; i < n; i++)
    if (const rd_kafka_error_t* e = rd_kafka_acl_result_error(rs[i]))
      return Status::Kafka(fmt::format("create ACL: {}", rd_kafka_error_string(e)));
  KPIPE_RETURN_IF_ERROR(out->Add(AclRow(binding)));
  return out->Flush();
}

Status DeleteAcls(rd_kafka_t* rk, const Acl& f, int timeout_ms, json::RowWriter* out) {
  auto filter = NewAcl(f, true);
  if (!filter.ok()) return filter.status();
  rd_kafka_AclBindingFilter_t* filters = filter->get();
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_DELETEACLS, timeout_ms, "delete ACLs",
                [&](auto* o, auto* q) { rd_kafka_DeleteAcls(rk, &filters, 1, o, q); });
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_DeleteAcls_result_response_t** rs =
      rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev->get()), &n);
  std::vector<const rd_kafka_AclBinding_t*> deleted;
  for (size_t i = 0; i < n; i++) {
    if (const rd_kafka_error_t* e = rd_kafka_DeleteAcls_result_response_error(rs[i]))
      return Status::Kafka(fmt::format("delete ACLs: {}", rd_kafka_error_string(e)));
    size_t m;
    const rd_kafka_AclBinding_t** bs = rd_kafka_DeleteAcls_result_response_matching_acls(rs[i], &m);
    deleted.insert(deleted.end(), bs, bs + m);
  }
  std::sort(deleted.begin(), deleted.end(), AclLess);
  for (const rd_kafka_AclBinding_t* b : deleted) KPIPE_RETURN_IF_ERROR(out->Add(AclRow(b)));
  return out->Flush();
}

}  // namespace kpipe::admin
