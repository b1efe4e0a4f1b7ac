#include "kpipe/schema/avro.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "kpipe/json/text.h"

namespace kpipe::schema {

namespace {

enum class Kind : uint8_t {
  kNull, kBoolean, kInt, kLong, kFloat, kDouble, kBytes, kString,
  kRecord, kEnum, kArray, kMap, kUnion, kFixed,
};

constexpr std::pair<std::string_view, Kind> kPrimitives[] = {
    {"null", Kind::kNull},     {"boolean", Kind::kBoolean}, {"int", Kind::kInt},
    {"long", Kind::kLong},     {"float", Kind::kFloat},     {"double", Kind::kDouble},
    {"bytes", Kind::kBytes},   {"string", Kind::kString},
};

bool Primitive(std::string_view name, Kind* k) {
  for (const auto& [n, kind] : kPrimitives)
    if (n == name) {
      *k = kind;
      return true;
    }
  return false;
}

const char* JsonType(simdjson::dom::element v) {
  switch (v.type()) {
    case simdjson::dom::element_type::ARRAY: return "array";
    case simdjson::dom::element_type::OBJECT: return "object";
    case simdjson::dom::element_type::STRING: return "string";
    case simdjson::dom::element_type::BOOL: return "boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
    default: return "number";
  }
}

// A failure at a path: segments are prefixed on the way out.
Status At(Status st, std::string_view segment) {
  if (st.ok()) return st;
  const std::string& m = st.message();
  bool path = !m.empty() && (m[0] == '.' || m[0] == '[');
  return Status::BadInput(fmt::format("{}{}{}", segment, path ? "" : ": ", m));
}

void WriteLong(std::string* out, int64_t v) {
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (u >= 0x80) {
    out->push_back(static_cast<char>((u & 0x7f) | 0x80));
    u >>= 7;
  }
  out->push_back(static_cast<char>(u));
}

// Latin-1 text (one code point per byte) as a JSON string.
void AppendLatin1(std::string* out, std::string_view bytes) {
  std::string utf8;
  utf8.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    if (c < 0x80) {
      utf8.push_back(static_cast<char>(c));
    } else {
      utf8.push_back(static_cast<char>(0xc0 | (c >> 6)));
      utf8.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  json::AppendQuoted(out, utf8);
}

// The inverse: false when a code point is above U+00FF.
bool FromLatin1(std::string_view utf8, std::string* bytes) {
  for (size_t i = 0; i < utf8.size(); i++) {
    unsigned char c = utf8[i];
    if (c < 0x80) {
      bytes->push_back(static_cast<char>(c));
    } else if ((c & 0xe0) == 0xc0 && c <= 0xc3 && i + 1 < utf8.size()) {
      bytes->push_back(static_cast<char>(((c & 0x03) << 6) | (utf8[++i] & 0x3f)));
    } else {
      return false;
    }
  }
  return true;
}

// A two's complement big-endian integer as decimal digits with `scale`
// digits after the point.
void AppendDecimal(std::string* out, std::string_view bytes, int scale) {
  std::vector<uint8_t> mag(bytes.begin(), bytes.end());
  bool negative = !mag.empty() && (mag[0] & 0x80);
  if (negative) {  // magnitude = ~x + 1
    for (uint8_t& b : mag) b = static_cast<uint8_t>(~b);
    for (size_t i = mag.size(); i-- > 0;)
      if (++mag[i] != 0) break;
  }
  std::string digits;
  for (;;) {  // divide by ten until zero, collecting remainders
    bool zero = true;
    unsigned rem = 0;
    for (uint8_t& b : mag) {
      unsigned cur = rem * 256 + b;
      b = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
      zero &= b == 0;
    }
    digits.push_back(static_cast<char>('0' + rem));
    if (zero) break;
  }
  while (digits.size() <= static_cast<size_t>(scale)) digits.push_back('0');
  // More than 18 digits: a string, exact; as a JSON number it would not
  // be read back whole (beyond 64-bit integers and doubles).
  bool quoted = digits.size() > 18;
  if (quoted) out->push_back('"');
  if (negative) out->push_back('-');
  for (size_t i = digits.size(); i-- > 0;) {
    out->push_back(digits[i]);
    if (scale > 0 && i == static_cast<size_t>(scale)) out->push_back('.');
  }
  if (quoted) out->push_back('"');
}

// Whether the two's complement integer `bytes` has at most `precision`
// digits.
bool DecimalFits(std::string_view bytes, int precision) {
  std::string text;
  AppendDecimal(&text, bytes, 0);
  size_t digits = 0;
  bool lead = true;
  for (char c : text) {
    if (c < '0' || c > '9' || (lead && c == '0')) continue;
    lead = false;
    digits++;
  }
  return digits <= static_cast<size_t>(precision);
}

// A number's text ([-]D[.D][e[+-]D]) as the unscaled digits of a decimal of
// `scale`; false when it is not a number or has more digits after the point.
bool Unscaled(std::string_view text, int scale, bool* negative, std::string* digits, std::string* why) {
  size_t i = 0;
  *negative = i < text.size() && text[i] == '-';
  if (*negative) i++;
  int64_t exp = 0;
  bool any = false, point = false;
  digits->clear();
  for (; i < text.size(); i++) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits->push_back(c);
      any = true;
      if (point) exp--;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    i++;
    bool eneg = i < text.size() && text[i] == '-';
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) i++;
    int64_t e = 0;
    bool edigit = false;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && e < 100000; i++, edigit = true)
      e = e * 10 + (text[i] - '0');
    if (!edigit) any = false;
    exp += eneg ? -e : e;
  }
  if (!any || i != text.size()) {
    *why = fmt::format("expected a decimal number, got \"{}\"", text);
    return false;
  }
  int64_t shift = exp + scale;
  if (shift > 1000) {
    *why = "decimal out of range";
    return false;
  }
  if (shift >= 0) {
    digits->append(static_cast<size_t>(shift), '0');
  } else {
    size_t cut = static_cast<size_t>(-shift);
    for (size_t k = 0; k < cut; k++) {
      if (k < digits->size() && (*digits)[digits->size() - 1 - k] != '0') {
        *why = fmt::format("{} has more than {} digits after the point", text, scale);
        return false;
      }
    }
    digits->resize(cut < digits->size() ? digits->size() - cut : 0);
  }
  size_t nz = digits->find_first_not_of('0');
  digits->erase(0, nz == std::string::npos ? digits->size() : nz);
  if (digits->empty()) *negative = false;
  return true;
}

// Decimal digits as a minimal two's complement big-endian integer, or
// sign-extended to `width` bytes (0: minimal). False when it does not fit.
bool TwosComplement(bool negative, const std::string& digits, size_t width, std::string* out) {
  std::vector<uint8_t> le(1, 0);  // little-endian magnitude
  for (char d : digits) {
    unsigned carry = static_cast<unsigned>(d - '0');
    for (uint8_t& b : le) {
      unsigned cur = b * 10u + carry;
      b = static_cast<uint8_t>(cur);
      carry = cur >> 8;
    }
    if (carry) le.push_back(static_cast<uint8_t>(carry));
  }
  le.push_back(0);  // room for the sign
  if (negative) {
    for (uint8_t& b : le) b = static_cast<uint8_t>(~b);
    for (uint8_t& b : le)
      if (++b != 0) break;
  }
  // Drop leading bytes that only repeat the sign.
  while (le.size() > 1) {
    uint8_t top = le.back(), next = le[le.size() - 2];
    if ((top == 0 && !(next & 0x80)) || (top == 0xff && (next & 0x80))) le.pop_back();
    else break;
  }
  if (width) {
    if (le.size() > width) return false;
    le.resize(width, negative ? 0xff : 0);
  }
  for (size_t i = le.size(); i-- > 0;) out->push_back(static_cast<char>(le[i]));
  return true;
}

}  // namespace

struct AvroSchema::Node {
  struct Field {
    std::string name, quoted;  // quoted: the name as a JSON string
    const Node* type = nullptr;
    std::string default_json;  // minified; empty: no default
    std::string default_bin;   // its encoding
    bool default_ready = false;
  };
  Kind kind = Kind::kNull;
  std::string name;  // full name of a record, enum or fixed
  std::vector<Field> fields;
  std::vector<std::string> symbols;
  const Node* items = nullptr;  // array items, map values
  std::vector<const Node*> branches;
  size_t size = 0;  // fixed
  bool decimal = false;
  int precision = 0, scale = 0;

  // A union's: whether one of its branches takes strings (string, bytes,
  // an enum, a fixed), which the names of NaN and the infinities are too.
  bool HasStringBranch() const {
    return std::any_of(branches.begin(), branches.end(), [](const Node* b) {
      return b->kind == Kind::kString || b->kind == Kind::kBytes || b->kind == Kind::kEnum || b->kind == Kind::kFixed;
    });
  }
  std::string Display() const {
    if (!name.empty()) return name;
    for (const auto& [n, k] : kPrimitives)
      if (k == kind) return std::string(n);
    return kind == Kind::kArray ? "array" : kind == Kind::kMap ? "map" : "union";
  }
};

struct AvroSchema::Reader {
  const char* p;
  const char* end;
  int depth = 0;           // of records, unions, arrays and maps
  int64_t items_left = 0;  // of arrays and maps, over the datum: items of null take no byte
  bool Long(int64_t* v) {
    uint64_t u = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
      uint8_t b = static_cast<uint8_t>(*p++);
      u |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        *v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
        return true;
      }
    }
    return false;
  }
  bool Take(size_t n, std::string_view* s) {
    if (static_cast<size_t>(end - p) < n) return false;
    *s = std::string_view(p, n);
    p += n;
    return true;
  }
  bool Bytes(std::string_view* s) {
    int64_t n;
    return Long(&n) && n >= 0 && Take(static_cast<size_t>(n), s);
  }
};

AvroSchema::AvroSchema() = default;
AvroSchema::~AvroSchema() = default;

Result<std::unique_ptr<AvroSchema>> AvroSchema::Parse(std::string_view text,
                                                      const std::vector<Reference>& references) {
  std::unique_ptr<AvroSchema> s(new AvroSchema());
  simdjson::dom::parser parser;
  auto compile = [&](std::string_view t) -> Result<const Node*> {
    simdjson::padded_string padded(t);
    simdjson::dom::element root;
    if (parser.parse(padded).get(root) != simdjson::SUCCESS)
      return Status::BadInput("Avro schema: not JSON");
    return s->Build(root, "");
  };
  for (const Reference& r : references) {
    auto n = compile(r.text);
    if (!n.ok()) return Status::BadInput(fmt::format("{} (in a referenced schema)", n.status().message()));
  }
  auto root = compile(text);
  if (!root.ok()) return root.status();
  s->root_ = *root;
  KPIPE_RETURN_IF_ERROR(s->Defaults());
  return s;
}

Result<const AvroSchema::Node*> AvroSchema::Named(std::string_view name, const std::string& ns) const {
  if (name.find('.') == std::string_view::npos && !ns.empty()) {
    auto it = named_.find(ns + "." + std::string(name));
    if (it != named_.end()) return it->second;
  }
  auto it = named_.find(name);
  if (it != named_.end()) return it->second;
  return Status::BadInput(fmt::format("Avro schema: unknown type \"{}\"", name));
}

Result<const AvroSchema::Node*> AvroSchema::Build(simdjson::dom::element s, const std::string& ns) {
  using simdjson::dom::element_type;
  if (s.is_string()) {
    std::string_view name = s.get_string().value_unsafe();
    Kind k;
    if (!Primitive(name, &k)) return Named(name, ns);
    Node& n = nodes_.emplace_back();
    n.kind = k;
    return &n;
  }
  if (s.is_array()) {
    Node& n = nodes_.emplace_back();
    n.kind = Kind::kUnion;
    simdjson::dom::array branches = s.get_array().value_unsafe();
    for (simdjson::dom::element b : branches) {
      auto bn = Build(b, ns);
      if (!bn.ok()) return bn.status();
      if ((*bn)->kind == Kind::kUnion) return Status::BadInput("Avro schema: a union inside a union");
      n.branches.push_back(*bn);
    }
    if (n.branches.empty()) return Status::BadInput("Avro schema: an empty union");
    return &n;
  }
  if (!s.is_object()) return Status::BadInput("Avro schema: a type must be a string, an array or an object");
  simdjson::dom::element type;
  if (s["type"].get(type) != simdjson::SUCCESS) return Status::BadInput("Avro schema: an object without \"type\"");
  if (!type.is_string()) return Build(type, ns);
  std::string_view t = type.get_string().value_unsafe();
  std::string_view logical;
  if (s["logicalType"].get(logical)) logical = {};
  auto decimal = [&](Node* n) -> Status {
    if (logical != "decimal") return Status::OK();
    int64_t precision = 0, scale = 0;
    if (s["precision"].get(precision) != simdjson::SUCCESS || precision <= 0)
      return Status::BadInput("Avro schema: a decimal needs a positive \"precision\"");
    if (s["scale"].get(scale)) scale = 0;
    if (scale < 0 || scale > precision) return Status::BadInput("Avro schema: a decimal's scale must be 0..precision");
    n->decimal = true;
    n->precision = static_cast<int>(precision);
    n->scale = static_cast<int>(scale);
    return Status::OK();
  };
  Kind k;
  if (Primitive(t, &k)) {
    Node& n = nodes_.emplace_back();
    n.kind = k;
    if (k == Kind::kBytes) KPIPE_RETURN_IF_ERROR(decimal(&n));
    return &n;
  }
  if (t == "array" || t == "map") {
    simdjson::dom::element items;
    if (s[t == "array" ? "items" : "values"].get(items) != simdjson::SUCCESS)
      return Status::BadInput(fmt::format("Avro schema: an {} without \"{}\"", t, t == "array" ? "items" : "values"));
    Node& n = nodes_.emplace_back();
    n.kind = t == "array" ? Kind::kArray : Kind::kMap;
    auto in = Build(items, ns);
    if (!in.ok()) return in.status();
    n.items = *in;
    return &n;
  }
  if (t != "record" && t != "error" && t != "enum" && t != "fixed") return Named(t, ns);
  std::string_view name, space;
  if (s["name"].get(name) != simdjson::SUCCESS || name.empty())
    return Status::BadInput(fmt::format("Avro schema: a {} without \"name\"", t));
  bool has_space = s["namespace"].get(space) == simdjson::SUCCESS;
  std::string full = name.find('.') != std::string_view::npos ? std::string(name)
                     : has_space && !space.empty()          ? fmt::format("{}.{}", space, name)
                     : !has_space && !ns.empty()            ? fmt::format("{}.{}", ns, name)
                                                            : std::string(name);
  if (named_.count(full)) return Status::BadInput(fmt::format("Avro schema: {} is defined twice", full));
  Node& n = nodes_.emplace_back();
  n.name = full;
  named_.emplace(full, &n);  // before the fields: a record may hold itself
  std::string inner = full.rfind('.') == std::string::npos ? "" : full.substr(0, full.rfind('.'));
  if (t == "fixed") {
    n.kind = Kind::kFixed;
    int64_t size;
    if (s["size"].get(size) != simdjson::SUCCESS || size < 0)
      return Status::BadInput(fmt::format("Avro schema: fixed {} without a \"size\"", full));
    n.size = static_cast<size_t>(size);
    KPIPE_RETURN_IF_ERROR(decimal(&n));
    return &n;
  }
  if (t == "enum") {
    n.kind = Kind::kEnum;
    simdjson::dom::array symbols;
    if (s["symbols"].get(symbols) != simdjson::SUCCESS)
      return Status::BadInput(fmt::format("Avro schema: enum {} without \"symbols\"", full));
    for (simdjson::dom::element e : symbols) {
      std::string_view sym;
      if (e.get(sym) != simdjson::SUCCESS) return Status::BadInput(fmt::format("Avro schema: enum {}: a symbol is not a string", full));
      n.symbols.emplace_back(sym);
    }
    return &n;
  }
  n.kind = Kind::kRecord;
  simdjson::dom::array fields;
  if (s["fields"].get(fields) != simdjson::SUCCESS)
    return Status::BadInput(fmt::format("Avro schema: record {} without \"fields\"", full));
  for (simdjson::dom::element f : fields) {
    Node::Field field;
    std::string_view fname;
    simdjson::dom::element ftype, def;
    if (f["name"].get(fname) != simdjson::SUCCESS || f["type"].get(ftype) != simdjson::SUCCESS)
      return Status::BadInput(fmt::format("Avro schema: record {}: a field without \"name\" or \"type\"", full));
    field.name = std::string(fname);
    json::AppendQuoted(&field.quoted, fname);
    auto ft = Build(ftype, inner);
    if (!ft.ok()) return ft.status();
    field.type = *ft;
    if (f["default"].get(def) == simdjson::SUCCESS) field.default_json = simdjson::minify(def);
    n.fields.push_back(std::move(field));
  }
  return &n;
}

// Defaults are encoded once every type is known (a default of a record type
// may use a type defined after the field), the records a type holds before
// the type (a default that leaves out a field of an inner record takes that
// field's default), each record once.
Status AvroSchema::Defaults() {
  simdjson::dom::parser parser;
  std::vector<const Node*> done;
  std::function<Status(const Node*)> visit = [&](const Node* c) -> Status {
    if (std::find(done.begin(), done.end(), c) != done.end()) return Status::OK();
    done.push_back(c);
    if (c->items) KPIPE_RETURN_IF_ERROR(visit(c->items));
    for (const Node* b : c->branches) KPIPE_RETURN_IF_ERROR(visit(b));
    for (const Node::Field& f : c->fields) KPIPE_RETURN_IF_ERROR(visit(f.type));
    Node& n = const_cast<Node&>(*c);  // nodes_ is ours; only Parse gets here
    for (Node::Field& f : n.fields) {
      if (f.default_json.empty()) continue;
      simdjson::dom::element v;
      if (parser.parse(f.default_json).get(v) != simdjson::SUCCESS)
        return Status::BadInput("Avro schema: a default is not JSON");
      // A union's default is of its first branch.
      const Node* t = f.type;
      if (t->kind == Kind::kUnion) {
        WriteLong(&f.default_bin, 0);
        t = t->branches[0];
      }
      // The spec gives a bytes or fixed default as its bytes, code points
      // U+0000 to U+00FF, a decimal's too ("\u0001\u0000" is 2.56 at scale
      // 2): so registries take it, and Confluent's serializers write it.
      // (A number is taken for a decimal as well.)
      Status st;
      std::string_view raw;
      if (t->decimal && v.get_string().get(raw) == simdjson::SUCCESS) {
        std::string bytes;
        if (!FromLatin1(raw, &bytes)) {
          st = Status::BadInput("bytes are code points U+0000 to U+00FF");
        } else if (t->kind == Kind::kFixed && bytes.size() != t->size) {
          st = Status::BadInput(fmt::format("fixed {} holds {} bytes, not {}", t->name, t->size, bytes.size()));
        } else if (!DecimalFits(bytes, t->precision)) {
          // Bytes of more digits than the precision are no such decimal: a
          // string of digits ("2.56"), as earlier versions read it.
          st = EncodeNode(t, v, &f.default_bin);
        } else {
          if (t->kind == Kind::kBytes) WriteLong(&f.default_bin, static_cast<int64_t>(bytes.size()));
          f.default_bin.append(bytes);
        }
      } else {
        st = EncodeNode(t, v, &f.default_bin);
      }
      if (!st.ok())
        return Status::BadInput(fmt::format("Avro schema: record {}: the default of {} does not fit its type: {}",
                                            n.name, f.name, st.message()));
      f.default_ready = true;
    }
    return Status::OK();
  };
  for (const Node& n : nodes_) KPIPE_RETURN_IF_ERROR(visit(&n));
  return Status::OK();
}

Status AvroSchema::Decode(std::string_view bytes, std::string* json) const {
  Reader r{bytes.data(), bytes.data() + bytes.size()};
  r.items_left = static_cast<int64_t>(bytes.size()) + (1 << 16);
  KPIPE_RETURN_IF_ERROR(DecodeNode(root_, &r, json));
  if (r.p != r.end)
    return Status::BadInput(fmt::format("{} bytes left over after the datum", r.end - r.p));
  return Status::OK();
}

// As deep as simdjson reads JSON: deeper output could not be read back.
constexpr int kMaxDepth = 1000;

Status AvroSchema::DecodeNode(const Node* n, Reader* r, std::string* out) const {
  static const Status kTruncated = Status::BadInput("the datum is truncated");
  struct Deeper {  // the depth of this call, for the kinds that nest
    Reader* r;
    ~Deeper() { r->depth--; }
  } deeper{r};
  if (++r->depth > kMaxDepth) return Status::BadInput(fmt::format("nested deeper than {} levels", kMaxDepth));
  int64_t v;
  std::string_view s;
  switch (n->kind) {
    case Kind::kNull: out->append("null"); return Status::OK();
    case Kind::kBoolean:
      if (!r->Take(1, &s)) return kTruncated;
      out->append(s[0] ? "true" : "false");
      return Status::OK();
    case Kind::kInt:
    case Kind::kLong:
      if (!r->Long(&v)) return kTruncated;
      if (n->kind == Kind::kInt && (v < INT32_MIN || v > INT32_MAX)) return Status::BadInput("an int out of range");
      fmt::format_to(std::back_inserter(*out), "{}", v);
      return Status::OK();
    case Kind::kFloat:
    case Kind::kDouble: {
      double d;
      if (n->kind == Kind::kFloat) {
        float f;
        if (!r->Take(4, &s)) return kTruncated;
        std::memcpy(&f, s.data(), 4);
        d = f;
        if (std::isfinite(f)) {
          // -0 as "-0.0": JSON's -0 is read back as the integer 0.
          if (f == 0 && std::signbit(f)) out->append("-0.0");
          else fmt::format_to(std::back_inserter(*out), "{}", f);
          return Status::OK();
        }
      } else {
        if (!r->Take(8, &s)) return kTruncated;
        std::memcpy(&d, s.data(), 8);
        if (std::isfinite(d)) {
          if (d == 0 && std::signbit(d)) out->append("-0.0");
          else fmt::format_to(std::back_inserter(*out), "{}", d);
          return Status::OK();
        }
      }
      out->append(std::isnan(d) ? "\"NaN\"" : d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
      return Status::OK();
    }
    case Kind::kString:
      if (!r->Bytes(&s)) return kTruncated;
      if (!json::IsUtf8(s)) return Status::BadInput("a string that is not UTF-8");
      json::AppendQuoted(out, s);
      return Status::OK();
    case Kind::kBytes:
    case Kind::kFixed:
      if (!(n->kind == Kind::kFixed ? r->Take(n->size, &s) : r->Bytes(&s))) return kTruncated;
      // precision digits take at most precision x log2(10) / 8 + 1 bytes
      if (n->decimal && n->kind == Kind::kBytes && s.size() > static_cast<size_t>(n->precision) * 10 / 24 + 2)
        return Status::BadInput(fmt::format("{} bytes for a decimal of precision {}", s.size(), n->precision));
      if (n->decimal) AppendDecimal(out, s, n->scale);
      else AppendLatin1(out, s);
      return Status::OK();
    case Kind::kEnum:
      if (!r->Long(&v)) return kTruncated;
      if (v < 0 || static_cast<size_t>(v) >= n->symbols.size())
        return Status::BadInput(fmt::format("enum {}: no symbol number {}", n->name, v));
      json::AppendQuoted(out, n->symbols[v]);
      return Status::OK();
    case Kind::kUnion: {
      if (!r->Long(&v)) return kTruncated;
      if (v < 0 || static_cast<size_t>(v) >= n->branches.size())
        return Status::BadInput(fmt::format("a union has no branch number {}", v));
      const Node* b = n->branches[v];
      size_t at = out->size();
      const char* datum = r->p;
      Status st = DecodeNode(b, r, out);
      // A float as its shortest form (0.1) would go to a double branch as
      // another value (0.1, not 0.10000000149011612): with one there, the
      // float is written as the double it is, which the float branch takes
      // back exactly.
      if (st.ok() && b->kind == Kind::kFloat && (*out)[at] != '"' &&
          std::any_of(n->branches.begin(), n->branches.end(), [](const Node* x) { return x->kind == Kind::kDouble; })) {
        float f;
        std::memcpy(&f, datum, 4);
        if (f != 0) {  // (0 and -0.0 are the same either way)
          out->resize(at);
          fmt::format_to(std::back_inserter(*out), "{}", static_cast<double>(f));
        }
      }
      // A float or double JSON has no number for comes as its name, which a
      // union with a string branch would take back as a string: there it is
      // wrapped, {"double":"NaN"}, as Avro's JSON encoding writes a union.
      if (st.ok() && (b->kind == Kind::kFloat || b->kind == Kind::kDouble) && (*out)[at] == '"' &&
          n->HasStringBranch()) {
        std::string name = out->substr(at);
        out->resize(at);
        out->append("{\"");
        out->append(b->kind == Kind::kFloat ? "float" : "double");
        out->append("\":");
        out->append(name);
        out->push_back('}');
      }
      return st;
    }
    case Kind::kRecord:
      out->push_back('{');
      for (size_t i = 0; i < n->fields.size(); i++) {
        const Node::Field& f = n->fields[i];
        if (i) out->push_back(',');
        out->append(f.quoted);
        out->push_back(':');
        Status st = DecodeNode(f.type, r, out);
        if (!st.ok()) return At(std::move(st), "." + f.name);
      }
      out->push_back('}');
      return Status::OK();
    case Kind::kArray:
    case Kind::kMap: {
      bool map = n->kind == Kind::kMap;
      out->push_back(map ? '{' : '[');
      size_t index = 0;
      for (;;) {
        int64_t count;
        if (!r->Long(&count)) return kTruncated;
        if (count == 0) break;
        if (count < 0) {
          int64_t size;
          if (!r->Long(&size)) return kTruncated;
          count = count == INT64_MIN ? INT64_MAX : -count;
        }
        // Each item takes a byte at least, but for nulls: over the datum,
        // no more items than its bytes and a bound for nulls.
        r->items_left -= count;
        if (r->items_left < 0) return Status::BadInput("more items than the datum can hold");
        for (int64_t i = 0; i < count; i++, index++) {
          if (index) out->push_back(',');
          if (map) {
            if (!r->Bytes(&s)) return kTruncated;
            if (!json::IsUtf8(s)) return Status::BadInput("a map key that is not UTF-8");
            json::AppendQuoted(out, s);
            out->push_back(':');
          }
          Status st = DecodeNode(n->items, r, out);
          if (!st.ok()) return At(std::move(st), map ? "." + std::string(s) : fmt::format("[{}]", index));
        }
      }
      out->push_back(map ? '}' : ']');
      return Status::OK();
    }
  }
  return Status::Internal("Avro: unknown kind");
}

Status AvroSchema::Encode(simdjson::dom::element value, std::string* out) const {
  return EncodeNode(root_, value, out);
}

Status AvroSchema::EncodeNode(const Node* n, simdjson::dom::element v, std::string* out) const {
  auto expected = [&](const char* what) {
    return Status::BadInput(fmt::format("expected {}, got {}", what, JsonType(v)));
  };
  switch (n->kind) {
    case Kind::kNull:
      return v.is_null() ? Status::OK() : expected("null");
    case Kind::kBoolean:
      if (!v.is_bool()) return expected("a boolean");
      out->push_back(v.get_bool().value_unsafe() ? 1 : 0);
      return Status::OK();
    case Kind::kInt:
    case Kind::kLong: {
      int64_t i;
      double d;
      if (v.get_int64().get(i) != simdjson::SUCCESS) {
        // An integral double (1e3, 5.0) is an integer too.
        const char* range = n->kind == Kind::kInt ? "an int's" : "a long's";
        uint64_t u;
        if (v.get_uint64().get(u) == simdjson::SUCCESS)
          return Status::BadInput(fmt::format("{} is out of {} range", u, range));
        if (v.get_double().get(d) != simdjson::SUCCESS) return expected("an integer");
        if (d != std::floor(d)) return Status::BadInput(fmt::format("expected an integer, got {}", d));
        if (!(d >= -0x1p63 && d < 0x1p63)) return Status::BadInput(fmt::format("{} is out of {} range", d, range));
        i = static_cast<int64_t>(d);
      }
      if (n->kind == Kind::kInt && (i < INT32_MIN || i > INT32_MAX))
        return Status::BadInput(fmt::format("{} is out of an int's range", i));
      WriteLong(out, i);
      return Status::OK();
    }
    case Kind::kFloat:
    case Kind::kDouble: {
      double d;
      std::string_view s;
      if (v.get_string().get(s) == simdjson::SUCCESS) {
        if (s == "NaN") d = NAN;
        else if (s == "Infinity") d = INFINITY;
        else if (s == "-Infinity") d = -INFINITY;
        else return expected("a number");
      } else if (v.get_double().get(d) != simdjson::SUCCESS) {
        return expected("a number");
      }
      if (n->kind == Kind::kFloat) {
        // Past float's largest it would be an infinity the record does not say.
        if (std::isfinite(d) && std::isinf(static_cast<float>(d)))
          return Status::BadInput(fmt::format("{} is out of a float's range", d));
        float f = static_cast<float>(d);
        out->append(reinterpret_cast<const char*>(&f), 4);
      } else {
        out->append(reinterpret_cast<const char*>(&d), 8);
      }
      return Status::OK();
    }
    case Kind::kString: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) return expected("a string");
      WriteLong(out, static_cast<int64_t>(s.size()));
      out->append(s);
      return Status::OK();
    }
    case Kind::kBytes:
    case Kind::kFixed: {
      std::string bytes;
      if (n->decimal) {
        std::string text, digits, why;
        std::string_view s;
        if (v.get_string().get(s) == simdjson::SUCCESS) text = std::string(s);
        else if (v.is_int64()) text = fmt::format("{}", v.get_int64().value_unsafe());
        else if (v.is_uint64()) text = fmt::format("{}", v.get_uint64().value_unsafe());
        else if (v.is_double()) text = fmt::format("{}", v.get_double().value_unsafe());
        else return expected("a decimal number");
        // A JSON number with a fraction is read as a double, which keeps 15
        // significant digits: one whose shortest form needs more, or whose
        // integer part a double no longer holds exactly, may not be the
        // number written.
        if (v.is_double()) {
          size_t digits = 0;
          for (char c : text.substr(0, text.find_first_of("eE"))) digits += c >= '0' && c <= '9';
          size_t lead = text.find_first_of("123456789");  // leading zeros are no significant digits
          if (lead != std::string::npos && lead < text.find_first_of("eE"))
            digits -= std::count_if(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(lead),
                                    [](char c) { return c == '0'; });
          if (digits > 15 || std::fabs(v.get_double().value_unsafe()) >= 0x1p53)
            return Status::BadInput(fmt::format(
                "{}: a decimal of more than 15 digits must be given as a string (a JSON number is read as a double)",
                text));
        }
        bool negative;
        if (!Unscaled(text, n->scale, &negative, &digits, &why)) return Status::BadInput(why);
        if (digits.size() > static_cast<size_t>(n->precision))
          return Status::BadInput(fmt::format("{} has more than {} digits", text, n->precision));
        if (!TwosComplement(negative, digits, n->kind == Kind::kFixed ? n->size : 0, &bytes))
          return Status::BadInput(fmt::format("{} does not fit in {} bytes", text, n->size));
      } else {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS) return expected("a string of bytes");
        if (!FromLatin1(s, &bytes)) return Status::BadInput("bytes are code points U+0000 to U+00FF");
        if (n->kind == Kind::kFixed && bytes.size() != n->size)
          return Status::BadInput(fmt::format("fixed {} holds {} bytes, not {}", n->name, n->size, bytes.size()));
      }
      if (n->kind == Kind::kBytes) WriteLong(out, static_cast<int64_t>(bytes.size()));
      out->append(bytes);
      return Status::OK();
    }
    case Kind::kEnum: {
      std::string_view s;
      if (v.get_string().get(s) != simdjson::SUCCESS) return expected("a symbol");
      for (size_t i = 0; i < n->symbols.size(); i++)
        if (n->symbols[i] == s) {
          WriteLong(out, static_cast<int64_t>(i));
          return Status::OK();
        }
      return Status::BadInput(fmt::format("\"{}\" is not a symbol of enum {}", s, n->name));
    }
    case Kind::kUnion:
      return EncodeUnion(n, v, out);
    case Kind::kArray: {
      simdjson::dom::array a;
      if (v.get_array().get(a) != simdjson::SUCCESS) return expected("an array");
      size_t count = a.size();
      if (count) WriteLong(out, static_cast<int64_t>(count));
      size_t i = 0;
      for (simdjson::dom::element e : a) {
        Status st = EncodeNode(n->items, e, out);
        if (!st.ok()) return At(std::move(st), fmt::format("[{}]", i));
        i++;
      }
      out->push_back(0);
      return Status::OK();
    }
    case Kind::kMap: {
      simdjson::dom::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS) return expected("an object (a map)");
      size_t count = o.size();
      if (count) WriteLong(out, static_cast<int64_t>(count));
      for (auto [key, e] : o) {
        WriteLong(out, static_cast<int64_t>(key.size()));
        out->append(key);
        Status st = EncodeNode(n->items, e, out);
        if (!st.ok()) return At(std::move(st), "." + std::string(key));
      }
      out->push_back(0);
      return Status::OK();
    }
    case Kind::kRecord: {
      simdjson::dom::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS) return expected(("an object (record " + n->name + ")").c_str());
      // One pass over the members, each matched to its field; members in
      // the schema's order (the usual case) match at the first compare.
      size_t nf = n->fields.size();
      constexpr size_t kInline = 32;
      simdjson::dom::element inline_found[kInline];
      bool inline_have[kInline] = {};
      std::vector<simdjson::dom::element> heap_found;
      std::vector<char> heap_have;
      simdjson::dom::element* found = inline_found;
      bool* have = inline_have;
      if (nf > kInline) {
        heap_found.resize(nf);
        heap_have.assign(nf, 0);
        found = heap_found.data();
        have = reinterpret_cast<bool*>(heap_have.data());
      }
      size_t next = 0;
      for (auto [key, e] : o) {
        size_t i = next < nf && n->fields[next].name == key ? next : nf;
        for (size_t j = 0; i == nf && j < nf; j++)
          if (n->fields[j].name == key) i = j;
        if (i == nf) return Status::BadInput(fmt::format(".{}: not a field of record {}", key, n->name));
        found[i] = e;
        have[i] = true;
        next = i + 1;
      }
      for (size_t i = 0; i < nf; i++) {
        const Node::Field& f = n->fields[i];
        if (!have[i]) {
          if (f.default_json.empty())
            return Status::BadInput(fmt::format(".{}: missing, and the field has no default", f.name));
          // (Not ready only within a cycle of defaults that need each other.)
          if (!f.default_ready)
            return Status::BadInput(fmt::format(".{}: a default that needs itself", f.name));
          out->append(f.default_bin);
          continue;
        }
        Status st = EncodeNode(f.type, found[i], out);
        if (!st.ok()) return At(std::move(st), "." + f.name);
      }
      return Status::OK();
    }
  }
  return Status::Internal("Avro: unknown kind");
}

namespace {

// Whether the JSON number `v` is a value of F, exactly: a union's float
// branch must not take a double or an integer it would round (16777217,
// 0.1), or a copy of the topic would change the value.
template <typename F>
bool HoldsExactly(simdjson::dom::element v) {
  int64_t i;
  uint64_t u;
  double d;
  if (v.get_int64().get(i) == simdjson::SUCCESS) {
    F f = static_cast<F>(i);
    return std::fabs(f) < F(0x1p63) && static_cast<int64_t>(f) == i;
  }
  if (v.get_uint64().get(u) == simdjson::SUCCESS) {
    F f = static_cast<F>(u);
    return f < F(0x1p64) && static_cast<uint64_t>(f) == u;
  }
  if (v.get_double().get(d) != simdjson::SUCCESS) return false;
  return static_cast<double>(static_cast<F>(d)) == d;
}

}  // namespace

Status AvroSchema::EncodeUnion(const Node* n, simdjson::dom::element v, std::string* out) const {
  using simdjson::dom::element_type;
  element_type t = v.type();
  auto may_fit = [&](const Node* b) {
    switch (b->kind) {
      case Kind::kNull: return t == element_type::NULL_VALUE;
      case Kind::kBoolean: return t == element_type::BOOL;
      case Kind::kInt:
      case Kind::kLong: return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
      case Kind::kFloat:
      case Kind::kDouble:
        if (t == element_type::STRING) {  // only the names of what JSON has no number for
          // (With a string branch a string is a string: a float or double
          // comes wrapped then, as decoding writes it.)
          std::string_view s = v.get_string().value_unsafe();
          return (s == "NaN" || s == "Infinity" || s == "-Infinity") && !n->HasStringBranch();
        }
        if (b->kind == Kind::kFloat) return HoldsExactly<float>(v);
        return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
      case Kind::kString:
      case Kind::kEnum: return t == element_type::STRING;
      case Kind::kBytes:
      case Kind::kFixed: return t == element_type::STRING || (b->decimal && t != element_type::ARRAY && t != element_type::OBJECT);
      case Kind::kArray: return t == element_type::ARRAY;
      case Kind::kMap:
      case Kind::kRecord: return t == element_type::OBJECT;
      case Kind::kUnion: return false;
    }
    return false;
  };
  size_t at = out->size();
  // {"double":"NaN"}, as decoding wraps a float or double JSON has no number
  // for: that branch, before a map or record branch could take the object.
  simdjson::dom::object wrapped;
  if (v.get_object().get(wrapped) == simdjson::SUCCESS && wrapped.size() == 1) {
    auto [key, inner] = *wrapped.begin();
    std::string_view name;
    if ((key == "float" || key == "double") && inner.get_string().get(name) == simdjson::SUCCESS &&
        (name == "NaN" || name == "Infinity" || name == "-Infinity"))
      for (size_t i = 0; i < n->branches.size(); i++)
        if (n->branches[i]->kind == (key == "float" ? Kind::kFloat : Kind::kDouble)) {
          WriteLong(out, static_cast<int64_t>(i));
          return EncodeNode(n->branches[i], inner, out);
        }
  }
  Status first;
  for (size_t i = 0; i < n->branches.size(); i++) {
    const Node* b = n->branches[i];
    if (!may_fit(b)) continue;
    WriteLong(out, static_cast<int64_t>(i));
    Status st = EncodeNode(b, v, out);
    if (st.ok()) return st;
    out->resize(at);
    if (first.ok()) first = std::move(st);
  }
  // Avro's wrapped form: {"TYPE": value}.
  simdjson::dom::object o;
  if (v.get_object().get(o) == simdjson::SUCCESS && o.size() == 1) {
    auto [key, inner] = *o.begin();
    for (size_t i = 0; i < n->branches.size(); i++) {
      std::string name = n->branches[i]->Display();
      std::string_view shortname = std::string_view(name).substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
      if (key != name && key != shortname) continue;
      WriteLong(out, static_cast<int64_t>(i));
      return At(EncodeNode(n->branches[i], inner, out), "." + std::string(key));
    }
  }
  if (!first.ok()) return first;
  std::string names;
  for (const Node* b : n->branches) names += (names.empty() ? "" : ", ") + b->Display();
  return Status::BadInput(fmt::format("expected one of [{}], got {}", names, JsonType(v)));
}

}  // namespace kpipe::schema
