#include "common.h"

#include <condense/file.h>
#include <condense/npy.h>
#include <condense/onnx.h>
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "commands.h"

namespace condense::cli {

int fail(const Status& s, const std::string& hint) {
  // One line: flatten any newline a nested message may carry.
  std::string msg = s.message();
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  fmt::print(stderr, "error: {}\n", msg);
  if (!hint.empty()) fmt::print(stderr, "hint: {}\n", hint);
  return 1;
}

Result<ir::Graph> load_model(const std::string& path, std::string* hint) {
  auto g = onnx::import_file(path);
  if (!g && hint) {
    const std::string& m = g.status().message();
    if (m.find("cannot open") != std::string::npos)
      *hint = "check the path; condense reads .onnx model files";
    else if (m.find("protobuf parse failed") != std::string::npos ||
             m.find("is empty") != std::string::npos)
      *hint =
          "the file is not a complete ONNX model; re-export it (torch.onnx.export, or check the "
          "download)";
    else if (m.find("unsupported op") != std::string::npos)
      *hint =
          "this op is not implemented in condense yet; 'condense info' cannot inspect the model "
          "either";
    else if (m.find("unsupported dtype") != std::string::npos)
      *hint = "condense runs numeric tensors only (no strings, complex or float8)";
  }
  return g;
}

Result<Tensor> read_tensor_file(const std::string& path, const std::string& member) {
  CONDENSE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  auto with_path = [&](const Status& s) { return s.with_context(fmt::format("'{}'", path)); };
  if (bytes.rfind("\x93NUMPY", 0) == 0) {
    if (!member.empty())
      return Status::errorf("'{}' is a .npy file; ':{}' only applies to .npz files", path, member);
    auto t = npy::parse(bytes);
    if (!t) return with_path(t.status());
    return t;
  }
  if (bytes.rfind("PK", 0) == 0) {
    auto arrays = npy::parse_npz(bytes);
    if (!arrays) return with_path(arrays.status());
    std::string names;
    for (const auto& a : *arrays) names += (names.empty() ? "" : ", ") + a.name;
    if (member.empty()) {
      if (arrays->size() == 1) return (*arrays)[0].tensor;
      return Status::errorf("'{}' holds {} arrays ({}): name one as {}:<member>", path,
                            arrays->size(), names, path);
    }
    for (auto& a : *arrays)
      if (a.name == member) return a.tensor;
    return Status::errorf("'{}' has no array named '{}' (it has: {})", path, member, names);
  }
  if (!member.empty())
    return Status::errorf("'{}' is not a .npz file; ':{}' only applies to .npz files", path,
                          member);
  auto t = onnx::parse_tensor_pb(bytes);
  if (!t)
    return Status::errorf("'{}' is neither .npy, .npz nor an ONNX TensorProto (.pb): {}", path,
                          t.status().message());
  return t;
}

namespace {

bool is_input(const ir::Graph& g, const std::string& name) {
  for (const ir::Value* v : g.inputs)
    if (v->name == name) return true;
  return false;
}

std::string input_names(const ir::Graph& g) {
  std::string s;
  for (const ir::Value* v : g.inputs) s += (s.empty() ? "" : ", ") + v->name;
  return s.empty() ? "none" : s;
}

// Splits "file.npz:member" (only after a ".npz" suffix, so paths with ':' still work).
void split_member(const std::string& spec, std::string& path, std::string& member) {
  path = spec;
  member.clear();
  size_t at = spec.rfind(".npz:");
  if (at != std::string::npos && !std::filesystem::exists(spec)) {
    path = spec.substr(0, at + 4);
    member = spec.substr(at + 5);
  }
}

}  // namespace

Result<std::map<std::string, Tensor>> load_feeds(const ir::Graph& g,
                                                 const std::vector<std::string>& specs,
                                                 std::vector<std::string>* files_read,
                                                 std::string* hint) {
  std::map<std::string, Tensor> feeds;
  auto add = [&](const std::string& name, Tensor t) -> Status {
    if (feeds.count(name)) return Status::errorf("input '{}' is given twice", name);
    feeds[name] = std::move(t);
    return Status::ok();
  };
  for (const std::string& spec : specs) {
    std::string name, rest = spec;
    size_t eq = spec.find('=');
    if (eq != std::string::npos && !std::filesystem::exists(spec)) {
      name = spec.substr(0, eq);
      rest = spec.substr(eq + 1);
      if (!is_input(g, name)) {
        if (hint) *hint = fmt::format("the model's inputs are: {}", input_names(g));
        return Status::errorf("the model has no input named '{}'", name);
      }
    }
    std::string path, member;
    split_member(rest, path, member);
    if (files_read) files_read->push_back(path);
    if (!name.empty()) {
      // name=file.npz with several members: take the member of the same name.
      auto t = read_tensor_file(path, member);
      if (!t && member.empty() && t.status().message().find("name one as") != std::string::npos) {
        auto again = read_tensor_file(path, name);
        if (again) t = std::move(again);
      }
      if (!t) return t.status();
      CONDENSE_TRY(add(name, std::move(*t)));
      continue;
    }
    // No name: an .npz feeds inputs by member name; anything else needs a single-input model.
    CONDENSE_ASSIGN_OR_RETURN(std::string head, read_file(path));
    if (head.rfind("PK", 0) == 0 && member.empty()) {
      auto arrays = npy::parse_npz(head);
      if (!arrays) return arrays.status().with_context(fmt::format("'{}'", path));
      if (arrays->size() == 1 && g.inputs.size() == 1 && !is_input(g, (*arrays)[0].name)) {
        CONDENSE_TRY(add(g.inputs[0]->name, (*arrays)[0].tensor));
        continue;
      }
      for (auto& a : *arrays) {
        if (!is_input(g, a.name)) {
          if (hint) *hint = fmt::format("the model's inputs are: {}", input_names(g));
          return Status::errorf("'{}' holds array '{}' but the model has no input of that name",
                                path, a.name);
        }
        CONDENSE_TRY(add(a.name, a.tensor));
      }
      continue;
    }
    if (g.inputs.size() != 1) {
      if (hint)
        *hint =
            fmt::format("write -i <name>={} (the model's inputs are: {})", spec, input_names(g));
      return Status::errorf("'{}' has no input name and the model has {} inputs", spec,
                            g.inputs.size());
    }
    CONDENSE_ASSIGN_OR_RETURN(Tensor t, read_tensor_file(path, member));
    CONDENSE_TRY(add(g.inputs[0]->name, std::move(t)));
  }
  return feeds;
}

std::string value_type_str(const ir::Value& v) {
  return fmt::format("{}{}", dtype_name(v.dtype), v.has_shape ? ir::dims_str(v.dims) : "[?]");
}

Status check_feeds(const ir::Graph& g, const std::map<std::string, Tensor>& feeds) {
  for (const ir::Value* v : g.inputs) {
    auto it = feeds.find(v->name);
    if (it == feeds.end())
      return Status::errorf("input '{}' ({}) was not given", v->name, value_type_str(*v));
    const Tensor& t = it->second;
    bool ok = t.dtype() == v->dtype;
    if (v->has_shape) {
      ok &= t.rank() == static_cast<int64_t>(v->dims.size());
      for (size_t d = 0; ok && d < v->dims.size(); ++d)
        ok = !v->dims[d].is_static() || v->dims[d].value == t.shape()[d];
    }
    if (!ok)
      return Status::errorf("input '{}': expected {}, got {}{}", v->name, value_type_str(*v),
                            dtype_name(t.dtype()), shape_str(t.shape()));
  }
  return Status::ok();
}

std::string sanitize_file_name(const std::string& name) {
  std::string s;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    s.push_back(ok ? c : '_');
  }
  if (s.empty() || s[0] == '.') s.insert(s.begin(), '_');
  if (s.size() > 200) s.resize(200);
  return s;
}

std::string preview_values(const Tensor& t, int max) {
  if (!t.defined() || t.dtype() == DType::I4 || t.dtype() == DType::U4) return "[...]";
  std::string s = "[";
  const int64_t n = std::min<int64_t>(t.numel(), max);
  for (int64_t i = 0; i < n; ++i) {
    if (i) s += ", ";
    if (dtype_is_float(t.dtype()))
      s += fmt::format("{:.6g}", t.get_f64(i));
    else
      s += fmt::format("{}", t.get_i64(i));
  }
  if (t.numel() > n) s += ", ...";
  return s + "]";
}

Result<Shape> parse_shape(const std::string& text) {
  Shape shape;
  if (text.empty()) return Status::error("empty shape (write e.g. 1x3x32x32)");
  size_t p = 0;
  while (p <= text.size()) {
    size_t x = text.find_first_of("x,", p);
    std::string part = text.substr(p, x == std::string::npos ? std::string::npos : x - p);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos ||
        part.size() > 12)
      return Status::errorf("bad shape '{}' (write e.g. 1x3x32x32)", text);
    shape.push_back(std::stoll(part));
    if (x == std::string::npos) break;
    p = x + 1;
  }
  return shape;
}

Result<double> parse_duration(const std::string& text) {
  double scale = 1;
  std::string num = text;
  if (num.size() > 2 && num.compare(num.size() - 2, 2, "ms") == 0) {
    scale = 1e-3;
    num.resize(num.size() - 2);
  } else if (!num.empty() && num.back() == 's') {
    num.resize(num.size() - 1);
  }
  try {
    size_t used = 0;
    double v = std::stod(num, &used);
    if (used != num.size() || !(v >= 0) || !std::isfinite(v)) throw std::invalid_argument("");
    return v * scale;
  } catch (const std::exception&) {
    return Status::errorf("bad duration '{}' (write e.g. 2s or 500ms)", text);
  }
}

}  // namespace condense::cli
