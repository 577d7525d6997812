// oneDNN LayerNormalization and LRN vs the reference kernels: ranks, axes, constant and variable
// parameters, optional inputs and outputs, and the cases the factories must leave to the
// reference kernel.
#include "fast_vs_ref.h"

namespace condense {
namespace {
using test::Case;
using test::check;

ir::Attribute f(float v) {
  return ir::Attribute::of_float(v);
}
ir::Attribute i64(int64_t v) {
  return ir::Attribute::of_int(v);
}

// The fast kernel must have run, not fallen back to the reference at run time: its float
// arithmetic then differs from the reference's somewhere on inputs of this size.
void check_fast(const Case& c, std::string_view kernel) {
  double diff = -1;  // stays -1 when check() stopped at a failure
  check(c, true, kernel, &diff);
  if (diff >= 0) {
    EXPECT_GT(diff, 0.0) << c.config << ": identical to the reference, the oneDNN path did not run";
  }
}

TEST(DnnlLayerNorm, AxesAndAffine) {
  struct P {
    Shape x;
    int64_t axis;
  };
  const P ps[] = {
      {{7}, 0},
      {{7}, -1},
      {{4, 33}, -1},
      {{4, 33}, 1},
      {{4, 33}, 0},
      {{2, 5, 16}, -1},
      {{2, 5, 16}, -2},
      {{2, 5, 16}, 1},
      {{2, 5, 16}, 0},
      {{3, 1, 8}, 2},
      {{2, 3, 4, 5}, -3},
      {{2, 3, 4, 5}, 3},
      {{1, 1, 1, 64}, -1},
      {{5, 2, 3, 2, 3}, 2},
  };
  for (const P& p : ps) {
    const int64_t axis = p.axis < 0 ? p.axis + static_cast<int64_t>(p.x.size()) : p.axis;
    const Shape norm(p.x.begin() + axis, p.x.end());
    for (int bias = 0; bias < 2; ++bias) {
      for (bool params_const : {true, false}) {
        Case c{OpKind::LayerNormalization,
               fmt::format("LayerNorm x={} axis={} bias={} scale/B constant={}", shape_str(p.x),
                           p.axis, bias, params_const),
               {{p.x, false}, {norm, params_const}},
               {{"axis", i64(p.axis)}, {"epsilon", f(params_const ? 1e-5f : 0.1f)}}};
        if (bias) c.inputs.push_back({norm, params_const});
        if (shape_numel(p.x) >= 16)
          check_fast(c, "dnnl_layernorm_f32");
        else
          check(c, true, "dnnl_layernorm_f32");
      }
    }
  }
}

TEST(DnnlLayerNorm, BroadcastScaleAndBias) {
  // Normalized shape (5, 16); scale (16) and B (1, 16) broadcast over it, constant or not.
  for (bool params_const : {true, false}) {
    check_fast({OpKind::LayerNormalization,
                fmt::format("LayerNorm x=(3, 5, 16) axis=1 scale (16) B (1, 16) constant={}",
                            params_const),
                {{{3, 5, 16}, false}, {{16}, params_const}, {{1, 16}, params_const}},
                {{"axis", i64(1)}}},
               "dnnl_layernorm_f32");
  }
  check_fast({OpKind::LayerNormalization,
              "LayerNorm x=(2, 4, 6) axis=-2 scale (1) B (4, 1)",
              {{{2, 4, 6}, false}, {{1}, true}, {{4, 1}, false}},
              {{"axis", i64(-2)}}},
             "dnnl_layernorm_f32");
}

TEST(DnnlLayerNorm, MeanAndInvStdDevOutputs) {
  for (int64_t axis : {-1, 1, -3}) {
    const Shape xs = {3, 4, 10};
    const Shape norm(xs.begin() + (axis < 0 ? axis + 3 : axis), xs.end());
    for (int outputs : {2, 3}) {
      check_fast({OpKind::LayerNormalization,
                  fmt::format("LayerNorm x=(3, 4, 10) axis={} outputs={}", axis, outputs),
                  {{xs, false}, {norm, true}, {norm, true}},
                  {{"axis", i64(axis)}, {"epsilon", f(0.1f)}},
                  outputs},
                 "dnnl_layernorm_f32");
    }
    // InvStdDev without Mean: the mean goes to the kernel's own buffer.
    Case c{OpKind::LayerNormalization,
           fmt::format("LayerNorm x=(3, 4, 10) axis={} InvStdDev only", axis),
           {{xs, false}, {norm, false}},
           {{"axis", i64(axis)}, {"epsilon", f(0.1f)}},
           3};
    c.absent_outputs = {1};
    check_fast(c, "dnnl_layernorm_f32");
  }
}

TEST(DnnlLayerNorm, StashTypeDoubleRunsReference) {
  Case c{OpKind::LayerNormalization,
         "LayerNorm stash_type=double",
         {{{2, 8}, false}, {{8}, true}},
         {{"stash_type", i64(11)}},
         3};
  check(c, false, "ref");
}

// oneDNN 2.6 runs LRN with a JIT kernel for size 5, beta 0.75 and 16 or more channels (a
// multiple of 8); these must run it, for any rank and spatial size.
TEST(DnnlLrn, JitConfigurations) {
  const Shape shapes[] = {{1, 16, 5, 5},    {2, 24, 7, 9},  {2, 16, 6},         {1, 64, 1, 1},
                          {1, 32, 2, 3, 4}, {3, 192, 3, 3}, {1, 16, 1, 2, 3, 2}};
  for (const Shape& xs : shapes) {
    for (auto [alpha, bias] : {std::pair{1e-4f, 1.f}, std::pair{0.9f, 1.f}, std::pair{3.f, 2.f}}) {
      check_fast(
          {OpKind::LRN,
           fmt::format("LRN x={} size=5 alpha={} beta=0.75 bias={}", shape_str(xs), alpha, bias),
           {{xs, false}},
           {{"size", i64(5)}, {"alpha", f(alpha)}, {"beta", f(0.75f)}, {"bias", f(bias)}}},
          "dnnl_lrn_f32");
    }
  }
}

// Other sizes, betas and channel counts: the kernel is chosen, and each shape runs either
// oneDNN's JIT kernel or condense's reference; the result must match either way.
TEST(DnnlLrn, SizesAndRanks) {
  const Shape shapes[] = {{1, 8, 5, 5},    {2, 3, 7, 9}, {2, 16, 6},         {1, 2, 4, 4},
                          {1, 6, 2, 3, 4}, {1, 1, 9, 9}, {1, 5, 1, 2, 3, 2}, {1, 1, 1, 1}};
  for (const Shape& xs : shapes) {
    for (int64_t size : {1, 3, 5}) {
      // (alpha, beta, bias): ONNX's defaults, then windows whose sum of squares dominates.
      for (auto [alpha, beta, bias] : {std::tuple{1e-4f, 0.75f, 1.f}, std::tuple{0.9f, 0.75f, 1.f},
                                       std::tuple{3.f, 0.5f, 2.f}}) {
        check({OpKind::LRN,
               fmt::format("LRN x={} size={} alpha={} beta={} bias={}", shape_str(xs), size, alpha,
                           beta, bias),
               {{xs, false}},
               {{"size", i64(size)}, {"alpha", f(alpha)}, {"beta", f(beta)}, {"bias", f(bias)}}},
              true, "dnnl_lrn_f32");
      }
    }
  }
}

TEST(DnnlLrn, EvenSizeRunsReference) {
  // ONNX's window for an even size is asymmetric ([c - 1, c + 2] for size 4); oneDNN's is not.
  check({OpKind::LRN, "LRN size=4", {{{1, 16, 3, 3}, false}}, {{"size", i64(4)}}}, false, "ref");
}

}  // namespace
}  // namespace condense
