// Rows: what kadmin(1) and kconsume -L/--lag print, either as JSON lines
// (one compact object per row, fields in the order they were added) or as
// an aligned table for people (kadmin(1), -o).
//
// A table is made of consecutive rows with the same field names: the names,
// upper-cased with '_' as '-', head the columns; strings are shown without
// quotes, null as "-", arrays of scalars joined with ','. A row of another
// shape starts a new table after a blank line. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kpipe/json/output.h"
#include "kpipe/status.h"

namespace kpipe::json {

enum class RowFormat { kJson, kTable };

class Row {
 public:
  Row& Str(std::string_view name, std::string_view value);
  Row& Int(std::string_view name, int64_t value);
  Row& Bool(std::string_view name, bool value);
  Row& Null(std::string_view name);
  // An integer, or null when `value` < 0 (an offset or id that is not known).
  Row& IntOrNull(std::string_view name, int64_t value);
  Row& Ints(std::string_view name, const std::vector<int64_t>& values);
  Row& Strs(std::string_view name, const std::vector<std::string>& values);
  // A string, or null when `value` is null.
  Row& StrOrNull(std::string_view name, const char* value);

  struct Field {
    std::string name;
    std::string json;     // the value as JSON text
    std::string display;  // the value as a table shows it
  };
  const std::vector<Field>& fields() const { return fields_; }

 private:
  Row& Add(std::string_view name, std::string json, std::string display);
  std::vector<Field> fields_;
};

class RowWriter {
 public:
  // Does not own `out`.
  RowWriter(Output* out, RowFormat format) : out_(out), format_(format) {}
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;

  // JSON: writes the row at once. Table: keeps it until a row of another
  // shape or Flush() ends its table.
  Status Add(const Row& row);
  // Writes what is kept, then flushes `out`.
  Status Flush();
  uint64_t rows() const { return rows_; }

 private:
  Status WriteTable();

  Output* out_;
  RowFormat format_;
  std::vector<Row> pending_;
  bool wrote_table_ = false;
  uint64_t rows_ = 0;
};

}  // namespace kpipe::json
