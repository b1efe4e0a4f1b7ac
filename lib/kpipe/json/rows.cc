#include "kpipe/json/rows.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kpipe/json/text.h"

namespace kpipe::json {

Row& Row::Add(std::string_view name, std::string json, std::string display) {
  fields_.push_back({std::string(name), std::move(json), std::move(display)});
  return *this;
}

Row& Row::Str(std::string_view name, std::string_view value) {
  std::string j;
  AppendQuoted(&j, value);
  return Add(name, std::move(j), std::string(value));
}

Row& Row::Int(std::string_view name, int64_t value) {
  std::string s = fmt::format("{}", value);
  return Add(name, s, s);
}

Row& Row::Bool(std::string_view name, bool value) {
  return Add(name, value ? "true" : "false", value ? "true" : "false");
}

Row& Row::Null(std::string_view name) { return Add(name, "null", "-"); }

Row& Row::IntOrNull(std::string_view name, int64_t value) {
  return value < 0 ? Null(name) : Int(name, value);
}

Row& Row::StrOrNull(std::string_view name, const char* value) {
  return value ? Str(name, value) : Null(name);
}

Row& Row::Ints(std::string_view name, const std::vector<int64_t>& values) {
  std::string list = fmt::format("{}", fmt::join(values, ","));
  return Add(name, "[" + list + "]", list);
}

Row& Row::Strs(std::string_view name, const std::vector<std::string>& values) {
  std::string j = "[", d;
  for (size_t i = 0; i < values.size(); i++) {
    if (i) j += ',', d += ',';
    AppendQuoted(&j, values[i]);
    d += values[i];
  }
  j += ']';
  return Add(name, std::move(j), std::move(d));
}

namespace {

bool SameShape(const Row& a, const Row& b) {
  const auto &fa = a.fields(), &fb = b.fields();
  if (fa.size() != fb.size()) return false;
  for (size_t i = 0; i < fa.size(); i++)
    if (fa[i].name != fb[i].name) return false;
  return true;
}

std::string Heading(const std::string& name) {
  std::string h = name;
  for (char& c : h) c = c == '_' ? '-' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return h;
}

// Display width: UTF-8 continuation bytes take no column.
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// A table cell on one line: control characters would break the columns.
std::string Cell(std::string_view s) {
  std::string c;
  for (char ch : s) c += static_cast<unsigned char>(ch) < 0x20 ? ' ' : ch;
  return c;
}

}  // namespace

Status RowWriter::Add(const Row& row) {
  rows_++;
  if (format_ == RowFormat::kJson) {
    std::string* b = out_->buffer();
    b->push_back('{');
    bool first = true;
    for (const Row::Field& f : row.fields()) {
      if (!first) b->push_back(',');
      first = false;
      AppendQuoted(b, f.name);
      b->push_back(':');
      b->append(f.json);
    }
    b->append("}\n");
    return out_->Commit();
  }
  if (!pending_.empty() && !SameShape(pending_.front(), row)) KPIPE_RETURN_IF_ERROR(WriteTable());
  pending_.push_back(row);
  return Status::OK();
}

Status RowWriter::WriteTable() {
  if (pending_.empty()) return Status::OK();
  const auto& names = pending_.front().fields();
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> head;
  for (const Row::Field& f : names) head.push_back(Heading(f.name));
  cells.push_back(std::move(head));
  for (const Row& r : pending_) {
    std::vector<std::string> line;
    for (const Row::Field& f : r.fields()) line.push_back(Cell(f.display));
    cells.push_back(std::move(line));
  }
  std::vector<size_t> width(names.size(), 0);
  for (const auto& line : cells)
    for (size_t i = 0; i < line.size(); i++) width[i] = std::max(width[i], Width(line[i]));
  std::string* b = out_->buffer();
  if (wrote_table_) b->push_back('\n');
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); i++) {
      b->append(line[i]);
      if (i + 1 < line.size()) b->append(width[i] - Width(line[i]) + 2, ' ');
    }
    b->push_back('\n');
    KPIPE_RETURN_IF_ERROR(out_->Commit());
  }
  wrote_table_ = true;
  pending_.clear();
  return Status::OK();
}

Status RowWriter::Flush() {
  KPIPE_RETURN_IF_ERROR(WriteTable());
  return out_->Flush();
}

}  // namespace kpipe::json
