#include <condense/ops.h>

#include <string>
#include <unordered_map>

namespace condense {

namespace {
constexpr OpSchema kSchemas[] = {
#define CONDENSE_OP(name, domain, in_min, in_max, out_min, out_max) \
  {#name, domain, in_min, in_max, out_min, out_max},
#include <condense/ops/all.inc>
#undef CONDENSE_OP
};
static_assert(sizeof(kSchemas) / sizeof(kSchemas[0]) == kOpCount);
}  // namespace

const OpSchema& op_schema(OpKind k) { return kSchemas[static_cast<int>(k)]; }
std::string_view op_name(OpKind k) { return kSchemas[static_cast<int>(k)].name; }

std::optional<OpKind> op_from_onnx(std::string_view domain, std::string_view type) {
  static const std::unordered_map<std::string, OpKind> table = [] {
    std::unordered_map<std::string, OpKind> t;
    for (int i = 0; i < kOpCount; ++i)
      t[std::string(kSchemas[i].domain) + "::" + std::string(kSchemas[i].name)] =
          static_cast<OpKind>(i);
    return t;
  }();
  if (domain == "ai.onnx") domain = "";
  auto it = table.find(std::string(domain) + "::" + std::string(type));
  if (it == table.end()) return std::nullopt;
  return it->second;
}

bool is_internal_training_op(OpKind k) {
  return op_schema(k).domain == "com.condense.train";
}

}  // namespace condense
