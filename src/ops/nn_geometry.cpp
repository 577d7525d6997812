#include "ops/nn_geometry.h"

namespace condense {

namespace {
// Reads an n-entry attribute (default `fallback` for each entry); error on a wrong length or a
// value below `min_value`.
Result<Shape> spatial_attr(const ir::Node& n, const char* key, int64_t rank, int64_t fallback,
                           int64_t min_value) {
  Shape v = n.attr_ints(key, Shape(rank, fallback));
  if (static_cast<int64_t>(v.size()) != rank)
    return Status::errorf("{} has {} entries, expected {} (one per spatial dim)", key, v.size(),
                          rank);
  for (int64_t x : v)
    if (x < min_value) return Status::errorf("{} = {} must be >= {}", key, shape_str(v), min_value);
  return v;
}

Status read_common(const ir::Node& n, std::span<const int64_t> x_shape,
                   std::span<const int64_t> kernel, WindowGeom& g) {
  if (x_shape.size() < 3)
    return Status::errorf("input must have rank >= 3 (N, C, spatial...), got {}",
                          shape_str(x_shape));
  g.rank = static_cast<int64_t>(x_shape.size()) - 2;
  if (static_cast<int64_t>(kernel.size()) != g.rank)
    return Status::errorf("kernel has {} spatial dims, input {} has {}", kernel.size(),
                          shape_str(x_shape), g.rank);
  g.in.assign(x_shape.begin() + 2, x_shape.end());
  g.kernel.assign(kernel.begin(), kernel.end());
  for (int64_t k : g.kernel)
    if (k < 1) return Status::errorf("kernel shape {} must be positive", shape_str(g.kernel));
  CONDENSE_ASSIGN_OR_RETURN(g.strides, spatial_attr(n, "strides", g.rank, 1, 1));
  CONDENSE_ASSIGN_OR_RETURN(g.dilations, spatial_attr(n, "dilations", g.rank, 1, 1));
  Shape pads = n.attr_ints("pads", Shape(2 * g.rank, 0));
  if (static_cast<int64_t>(pads.size()) != 2 * g.rank)
    return Status::errorf("pads has {} entries, expected {}", pads.size(), 2 * g.rank);
  for (int64_t p : pads)
    if (p < 0) return Status::errorf("pads {} must be non-negative", shape_str(pads));
  g.pad_begin.assign(pads.begin(), pads.begin() + g.rank);
  g.pad_end.assign(pads.begin() + g.rank, pads.end());
  return Status::ok();
}
}  // namespace

Result<WindowGeom> window_geometry(const ir::Node& n, std::span<const int64_t> x_shape,
                                   std::span<const int64_t> kernel, bool ceil_mode) {
  WindowGeom g;
  CONDENSE_TRY(read_common(n, x_shape, kernel, g));
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  g.out.resize(g.rank);
  for (int64_t i = 0; i < g.rank; ++i) {
    const int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;  // effective kernel extent
    const int64_t in = g.in[i], s = g.strides[i];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[i] = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * s + ek - in);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
    } else if (auto_pad == "VALID" || auto_pad == "NOTSET") {
      if (auto_pad == "VALID") g.pad_begin[i] = g.pad_end[i] = 0;
      const int64_t span = in + g.pad_begin[i] + g.pad_end[i] - ek;
      if (span < 0)
        return Status::errorf(
            "kernel extent {} (kernel {}, dilation {}) exceeds the padded input {} in spatial "
            "dim {}",
            ek, g.kernel[i], g.dilations[i], in + g.pad_begin[i] + g.pad_end[i], i);
      if (ceil_mode && auto_pad == "NOTSET") {
        g.out[i] = (span + s - 1) / s + 1;
        // The last window must start inside the input or the begin padding.
        if ((g.out[i] - 1) * s >= in + g.pad_begin[i]) --g.out[i];
      } else {
        g.out[i] = span / s + 1;
      }
    } else {
      return Status::errorf("auto_pad '{}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                            auto_pad);
    }
  }
  return g;
}

Result<WindowGeom> conv_transpose_geometry(const ir::Node& n, std::span<const int64_t> x_shape,
                                           std::span<const int64_t> kernel) {
  WindowGeom g;
  CONDENSE_TRY(read_common(n, x_shape, kernel, g));
  CONDENSE_ASSIGN_OR_RETURN(Shape out_pad, spatial_attr(n, "output_padding", g.rank, 0, 0));
  for (int64_t i = 0; i < g.rank; ++i)
    if (out_pad[i] >= std::max(g.strides[i], g.dilations[i]))
      return Status::errorf("output_padding {} must be smaller than the stride or dilation",
                            shape_str(out_pad));
  const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" &&
      auto_pad != "SAME_LOWER")
    return Status::errorf("auto_pad '{}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                          auto_pad);
  Shape out_shape = n.attr_ints("output_shape");
  if (!out_shape.empty()) {
    // Either the spatial dims or the full (N, C, spatial...) shape.
    if (static_cast<int64_t>(out_shape.size()) == g.rank + 2)
      out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    if (static_cast<int64_t>(out_shape.size()) != g.rank)
      return Status::errorf("output_shape has {} entries, expected {}", out_shape.size(), g.rank);
  }
  g.out.resize(g.rank);
  for (int64_t i = 0; i < g.rank; ++i) {
    const int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t full = g.strides[i] * (g.in[i] - 1) + out_pad[i] + ek;  // before padding
    if (!out_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t target = !out_shape.empty() ? out_shape[i] : g.in[i] * g.strides[i];
      // A negative total (output_shape past the full output) gives a negative end pad: extra
      // outputs that only receive the bias. Halves round down (floor), as the spec's formula.
      const int64_t total = full - target;
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      if (auto_pad == "SAME_UPPER") {
        g.pad_begin[i] = half;
        g.pad_end[i] = total - half;
      } else {
        g.pad_begin[i] = total - half;
        g.pad_end[i] = half;
      }
      g.out[i] = target;
    } else {
      if (auto_pad == "VALID") g.pad_begin[i] = g.pad_end[i] = 0;
      g.out[i] = full - g.pad_begin[i] - g.pad_end[i];
      if (g.out[i] < 1)
        return Status::errorf("pads {} + {} leave no output in spatial dim {}", g.pad_begin[i],
                              g.pad_end[i], i);
    }
  }
  return g;
}

}  // namespace condense
