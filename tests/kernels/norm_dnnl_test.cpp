// oneDNN LayerNormalization vs the reference kernel: ranks, axes, constant and variable
// parameters, optional inputs and outputs, and the cases the factory must leave to the
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

}  // namespace
}  // namespace condense
