// kcat-style output formats for kconsume -f: %t topic, %p partition,
// %o offset, %k key, %s value, %K/%S key/value size (-1 for null),
// %T timestamp, %h headers (name=value,...), %% a percent sign; escapes \n
// \t \r \0 and \\. Keys, values and headers are written as raw bytes.
#pragma once

#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace kpipe {

struct FormatPiece {
  char directive;  // 0 = literal text
  std::string text;
};

// Compiles a format string once; unknown directives are written as they are.
std::vector<FormatPiece> CompileFormat(const std::string& format);

// Appends message `m` formatted by `format`.
void AppendFormatted(std::string* out, const std::vector<FormatPiece>& format,
                     const rd_kafka_message_t* m);

}  // namespace kpipe
