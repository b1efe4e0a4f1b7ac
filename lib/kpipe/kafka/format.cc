#include "kpipe/kafka/format.h"

#include <cstdint>
#include <iterator>

#include <fmt/format.h>

namespace kpipe {

std::vector<FormatPiece> CompileFormat(const std::string& f) {
  std::vector<FormatPiece> out;
  std::string lit;
  for (size_t i = 0; i < f.size(); i++) {
    char c = f[i];
    if (c == '\\' && i + 1 < f.size()) {
      char e = f[++i];
      auto hex = [](char h) { return h >= '0' && h <= '9' ? h - '0' : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10 : -1; };
      if (e == 'x' && i + 2 < f.size() && hex(f[i + 1]) >= 0 && hex(f[i + 2]) >= 0) {  // \xHH, as kcat
        lit += static_cast<char>(hex(f[i + 1]) * 16 + hex(f[i + 2]));
        i += 2;
        continue;
      }
      lit += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? '\0' : e;
    } else if (c == '%' && i + 1 < f.size()) {
      char d = f[++i];
      if (d == '%') {
        lit += '%';
        continue;
      }
      if (!lit.empty()) out.push_back({0, std::move(lit)});
      lit.clear();
      out.push_back({d, ""});
    } else {
      lit += c;
    }
  }
  if (!lit.empty()) out.push_back({0, std::move(lit)});
  return out;
}

void AppendFormatted(std::string* b, const std::vector<FormatPiece>& format,
                     const rd_kafka_message_t* m) {
  for (const FormatPiece& p : format) {
    switch (p.directive) {
      case 0: b->append(p.text); break;
      case 't': b->append(rd_kafka_topic_name(m->rkt)); break;
      case 'p': fmt::format_to(std::back_inserter(*b), "{}", m->partition); break;
      case 'o': fmt::format_to(std::back_inserter(*b), "{}", m->offset); break;
      case 'k': if (m->key) b->append(static_cast<const char*>(m->key), m->key_len); break;
      case 's': if (m->payload) b->append(static_cast<const char*>(m->payload), m->len); break;
      case 'K': fmt::format_to(std::back_inserter(*b), "{}", m->key ? static_cast<int64_t>(m->key_len) : -1); break;
      case 'S': fmt::format_to(std::back_inserter(*b), "{}", m->payload ? static_cast<int64_t>(m->len) : -1); break;
      case 'R': {  // %S as a 32-bit big-endian integer (kcat's framing)
        uint32_t n = m->payload ? static_cast<uint32_t>(m->len) : UINT32_MAX;
        char be[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                      static_cast<char>(n)};
        b->append(be, 4);
        break;
      }
      case 'T': fmt::format_to(std::back_inserter(*b), "{}", rd_kafka_message_timestamp(m, nullptr)); break;
      case 'h': {
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
          const char* name;
          const void* val;
          size_t size;
          for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; i++) {
            if (i) b->push_back(',');
            b->append(name);
            b->push_back('=');
            if (val) b->append(static_cast<const char*>(val), size);
            else b->append("NULL");  // as kcat writes a null value, apart from an empty one
          }
        }
        break;
      }
      default: b->push_back('%'); b->push_back(p.directive);
    }
  }
}

}  // namespace kpipe
