// oneDNN kernels vs the reference kernels on edge sizes. Each case builds a one-node graph, runs
// it with fast kernels and with reference kernels only, and prints the exact configuration on a
// mismatch.
#include "fast_vs_ref.h"

namespace condense {
namespace {
using test::Case;
using test::check;
using test::ints;

TEST(DnnlConv, EdgeSizes) {
  struct P {
    int64_t n, c, m, h, w, k, stride, pad, dil, group;
  };
  const P ps[] = {
      {1, 1, 1, 1, 1, 1, 1, 0, 1, 1},     {1, 3, 16, 32, 32, 3, 1, 1, 1, 1},
      {2, 16, 32, 32, 32, 3, 2, 1, 1, 1}, {1, 5, 7, 9, 11, 3, 1, 0, 1, 1},
      {3, 6, 9, 10, 7, 3, 2, 2, 1, 3},    {1, 16, 16, 15, 15, 3, 1, 1, 1, 16},  // depthwise
      {2, 8, 8, 13, 13, 3, 1, 2, 2, 1},   {1, 4, 8, 8, 8, 1, 1, 0, 1, 2},
      {4, 64, 64, 8, 8, 3, 1, 1, 1, 1},   {1, 7, 5, 6, 17, 5, 3, 2, 1, 1},
  };
  for (const P& p : ps) {
    for (bool bias : {false, true}) {
      for (const char* act : {"", "Relu", "LeakyRelu", "Clip", "HardSigmoid", "Sigmoid"}) {
        Case c{
            OpKind::Conv,
            fmt::format("Conv n={} c={} m={} hw={}x{} k={} stride={} pad={} dil={} group={} "
                        "bias={} act={}",
                        p.n, p.c, p.m, p.h, p.w, p.k, p.stride, p.pad, p.dil, p.group, bias, act),
            {{{p.n, p.c, p.h, p.w}, false}, {{p.m, p.c / p.group, p.k, p.k}, true}},
            {{"strides", ints({p.stride, p.stride})},
             {"pads", ints({p.pad, p.pad, p.pad, p.pad})},
             {"dilations", ints({p.dil, p.dil})},
             {"group", ir::Attribute::of_int(p.group)}}};
        if (bias) c.inputs.push_back({{p.m}, true});
        if (*act) {
          c.attrs["_activation"] = ir::Attribute::of_string(act);
          c.attrs["_activation_alpha"] = ir::Attribute::of_float(0.1f);
          c.attrs["_activation_beta"] = ir::Attribute::of_float(0.6f);
        }
        check(c);
        if (*act && std::string(act) != "Relu") break;  // one shape per exotic activation
      }
    }
  }
}

TEST(DnnlConv, OneDAndAutoPad) {
  check({OpKind::Conv,
         "Conv1d n=2 c=3 m=4 w=17 k=5 SAME_UPPER stride 2",
         {{{2, 3, 17}, false}, {{4, 3, 5}, true}, {{4}, true}},
         {{"strides", ints({2})}, {"auto_pad", ir::Attribute::of_string("SAME_UPPER")}}});
  check({OpKind::Conv,
         "Conv2d SAME_LOWER asymmetric",
         {{{1, 2, 6, 7}, false}, {{3, 2, 2, 3}, true}},
         {{"strides", ints({2, 1})}, {"auto_pad", ir::Attribute::of_string("SAME_LOWER")}}});
  check({OpKind::Conv,
         "Conv2d asymmetric pads 0,1,2,0",
         {{{1, 2, 6, 7}, false}, {{3, 2, 3, 3}, true}},
         {{"pads", ints({0, 1, 2, 0})}}});
}

TEST(DnnlConvTranspose, EdgeSizes) {
  check({OpKind::ConvTranspose,
         "ConvTranspose c=3 m=2 5x5 k=3",
         {{{1, 3, 5, 5}, false}, {{3, 2, 3, 3}, true}},
         {}});
  check({OpKind::ConvTranspose,
         "ConvTranspose stride 2 output_padding 1 bias",
         {{{2, 4, 5, 6}, false}, {{4, 3, 3, 3}, true}, {{3}, true}},
         {{"strides", ints({2, 2})},
          {"output_padding", ints({1, 1})},
          {"pads", ints({1, 1, 1, 1})}}});
  check({OpKind::ConvTranspose,
         "ConvTranspose groups 2 dilation 2",
         {{{1, 4, 4, 4}, false}, {{4, 3, 3, 3}, true}},
         {{"group", ir::Attribute::of_int(2)}, {"dilations", ints({2, 2})}}});
  check({OpKind::ConvTranspose,
         "ConvTranspose 1-D stride 3",
         {{{1, 2, 7}, false}, {{2, 5, 3}, true}},
         {{"strides", ints({3})}}});
}

TEST(DnnlGemm, TransposeAndBroadcast) {
  for (int64_t M : {1, 3, 64}) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        for (int cmode = 0; cmode < 4; ++cmode) {  // none, (N), (M, N), scalar
          for (bool bconst : {true, false}) {
            const int64_t K = 17, N = 33;
            Case c{
                OpKind::Gemm,
                fmt::format("Gemm M={} K={} N={} transA={} transB={} C={} B constant={}", M, K, N,
                            ta, tb, cmode, bconst),
                {{ta ? Shape{K, M} : Shape{M, K}, false}, {tb ? Shape{N, K} : Shape{K, N}, bconst}},
                {{"transA", ir::Attribute::of_int(ta)}, {"transB", ir::Attribute::of_int(tb)}}};
            if (cmode == 1) c.inputs.push_back({{N}, true});
            if (cmode == 2) c.inputs.push_back({{M, N}, false});
            if (cmode == 3) c.inputs.push_back({{}, true});
            if (bconst) {
              c.attrs["alpha"] = ir::Attribute::of_float(0.5f);
              c.attrs["beta"] = ir::Attribute::of_float(2.f);
            }
            check(c, cmode != 2 || true);
          }
        }
      }
    }
  }
}

TEST(DnnlMatMul, Shapes) {
  check({OpKind::MatMul,
         "MatMul (1, 784) x const (784, 300) relu",
         {{{1, 784}, false}, {{784, 300}, true}},
         {{"_activation", ir::Attribute::of_string("Relu")}}});
  check({OpKind::MatMul,
         "MatMul (2, 3, 5, 7) x (7, 4)",
         {{{2, 3, 5, 7}, false}, {{7, 4}, false}},
         {}});
  check({OpKind::MatMul,
         "MatMul batched (3, 5, 7) x (3, 7, 2)",
         {{{3, 5, 7}, false}, {{3, 7, 2}, false}},
         {}});
  // Broadcast batch and 1-D operands run the reference through the same kernel object.
  check({OpKind::MatMul,
         "MatMul broadcast (2, 1, 5, 7) x (3, 7, 2)",
         {{{2, 1, 5, 7}, false}, {{3, 7, 2}, false}},
         {}});
  check({OpKind::MatMul, "MatMul 1-D (7) x (7, 2)", {{{7}, false}, {{7, 2}, false}}, {}});
}

TEST(DnnlPool, EdgeSizes) {
  for (OpKind op : {OpKind::MaxPool, OpKind::AveragePool}) {
    for (int ceil = 0; ceil < 2; ++ceil) {
      for (int incl = 0; incl < 2; ++incl) {
        for (int64_t pad : {0, 1}) {
          Case c{op,
                 fmt::format("{} 1x3x9x10 k=3 s=2 pad={} ceil={} count_include_pad={}",
                             op == OpKind::MaxPool ? "MaxPool" : "AveragePool", pad, ceil, incl),
                 {{{1, 3, 9, 10}, false}},
                 {{"kernel_shape", ints({3, 3})},
                  {"strides", ints({2, 2})},
                  {"pads", ints({pad, pad, pad, pad})},
                  {"ceil_mode", ir::Attribute::of_int(ceil)}}};
          if (op == OpKind::AveragePool) c.attrs["count_include_pad"] = ir::Attribute::of_int(incl);
          check(c);
        }
      }
    }
  }
  check({OpKind::MaxPool,
         "MaxPool dilation 2 1-D",
         {{{2, 3, 11}, false}},
         {{"kernel_shape", ints({3})}, {"dilations", ints({2})}}});
  check({OpKind::GlobalAveragePool, "GlobalAveragePool 2x64x8x8", {{{2, 64, 8, 8}, false}}, {}});
  check({OpKind::GlobalAveragePool, "GlobalAveragePool 1x1x1x1", {{{1, 1, 1, 1}, false}}, {}});
}

}  // namespace
}  // namespace condense
