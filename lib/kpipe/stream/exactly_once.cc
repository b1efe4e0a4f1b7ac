#include "kpipe/stream/exactly_once.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

namespace kpipe {

namespace {
constexpr std::string_view kCommitTag = "kpipe checkpoint ";
}  // namespace

std::vector<std::string> KafkaTopics(std::string_view input) {
  std::vector<std::string> topics;
  std::string_view list = input.substr(std::min<size_t>(6, input.size()));
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (comma != 0) topics.emplace_back(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return topics;
}

std::string CheckpointTag(uint64_t seq) { return fmt::format("{}{}", kCommitTag, seq); }

Status SelectCommitted(state::CheckpointStore* store, const std::vector<KafkaSource*>& inputs,
                       const std::string& group, const std::string& dir,
                       const std::function<void(const std::string&)>& warn, bool* fresh) {
  *fresh = false;
  std::vector<KafkaPosition> committed;
  std::vector<std::string> metadata;
  for (KafkaSource* in : inputs) KPIPE_RETURN_IF_ERROR(in->Committed(&committed, &metadata));
  uint64_t seq = 0;
  for (const std::string& m : metadata)
    if (m.rfind(kCommitTag, 0) == 0)
      seq = std::max<uint64_t>(seq, std::strtoull(m.c_str() + kCommitTag.size(), nullptr, 10));
  if (seq != 0) {
    auto selected = store->Select(seq);
    if (!selected.ok()) return selected.status();
    if (*selected) return Status::OK();
  }
  if (store->seq() == 0 || (seq == 0 && store->next_seq() <= 2)) {
    if (!committed.empty() && warn)
      warn(fmt::format("group {} has committed offsets but --state {} holds no checkpoint of them: "
                       "reading starts at the committed offsets with empty state",
                       group, dir));
    *fresh = store->seq() != 0;
    return Status::OK();
  }
  return Status::Usage(fmt::format(
      "--state {}: group {} committed its offsets with {}, which this directory does not hold (it has "
      "checkpoint {}); use the --state directory that ran with this group, or a new group",
      dir, group, seq ? fmt::format("checkpoint {}", seq) : "no kpipe checkpoint", store->seq()));
}

}  // namespace kpipe
