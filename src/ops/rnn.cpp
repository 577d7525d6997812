// Recurrent ops: RNN, GRU, LSTM (ONNX opset 14 form, with the `layout` attribute).
//   layout 0: X (seq, batch, input), initial_h/c (dirs, batch, H), Y (seq, dirs, batch, H),
//             Y_h/Y_c (dirs, batch, H)
//   layout 1: X (batch, seq, input), initial_h/c (batch, dirs, H), Y (batch, seq, dirs, H),
//             Y_h/Y_c (batch, dirs, H)
//   W (dirs, G*H, input), R (dirs, G*H, H), B (dirs, 2*G*H), sequence_lens (batch) i32,
//   P (dirs, 3*H) (LSTM peepholes); G = 1 (RNN), 3 (GRU), 4 (LSTM).
#include "ops/infer.h"

namespace condense {

namespace {

bool known_activation(const std::string& a) {
  static const char* kNames[] = {
      "Relu",       "Tanh",        "Sigmoid", "Affine",   "LeakyRelu", "ThresholdedRelu",
      "ScaledTanh", "HardSigmoid", "Elu",     "Softsign", "Softplus"};
  for (const char* n : kNames)
    if (a == n) return true;
  return false;
}

Status infer_recurrent(InferCtx& ctx, int64_t gates, int64_t num_acts) {
  CONDENSE_TRY(check_dtype(ctx, 0, {DType::F32, DType::F64}));
  CONDENSE_TRY(check_same_dtype(ctx, 0, 3));
  CONDENSE_TRY(check_dtype(ctx, 4, {DType::I32}));
  CONDENSE_TRY(check_same_dtype(ctx, 5, 7));
  if (ctx.has_input(5) && ctx.in(5).dtype != ctx.in(0).dtype)
    return ctx.fail("initial_h dtype {} differs from X's {}", dtype_name(ctx.in(5).dtype),
                    dtype_name(ctx.in(0).dtype));
  const ir::Node& n = ctx.node;
  const std::string dir = n.attr_string("direction", "forward");
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional")
    return ctx.fail("direction must be forward, reverse or bidirectional (got '{}')", dir);
  const int64_t dirs = dir == "bidirectional" ? 2 : 1;
  const int64_t layout = n.attr_int("layout", 0);
  if (layout != 0 && layout != 1) return ctx.fail("layout must be 0 or 1 (got {})", layout);
  if (n.attr_float("clip", 1.f) <= 0.f) return ctx.fail("clip must be positive");
  const std::vector<std::string> acts = n.has_attr("activations")
                                            ? n.attr(std::string("activations"))->strings
                                            : std::vector<std::string>{};
  if (!acts.empty() && static_cast<int64_t>(acts.size()) != num_acts * dirs)
    return ctx.fail("activations lists {} functions, expected {} ({} per direction)", acts.size(),
                    num_acts * dirs, num_acts);
  for (const auto& a : acts)
    if (!known_activation(a)) return ctx.fail("unsupported activation '{}'", a);
  const DType t = ctx.in(0).dtype;
  if (any_unknown(ctx)) {
    for (size_t i = 0; i < ctx.outputs.size(); ++i)
      if (n.output(i)) ctx.set_out_unknown(i, t);
    return Status::ok();
  }
  const Shape& x = ctx.in(0).shape;
  const Shape& w = ctx.in(1).shape;
  const Shape& r = ctx.in(2).shape;
  if (x.size() != 3 || w.size() != 3 || r.size() != 3)
    return ctx.fail("X, W and R must be 3-D (got {}, {}, {})", shape_str(x), shape_str(w),
                    shape_str(r));
  const int64_t seq = layout == 0 ? x[0] : x[1], batch = layout == 0 ? x[1] : x[0];
  const int64_t H = r[2];
  if (n.has_attr("hidden_size") && n.attr_int("hidden_size", 0) != H)
    return ctx.fail("hidden_size {} differs from R's last dim {}", n.attr_int("hidden_size", 0), H);
  if (w[0] != dirs || r[0] != dirs)
    return ctx.fail("W/R have {}/{} directions, direction '{}' needs {}", w[0], r[0], dir, dirs);
  if (w[1] != gates * H || r[1] != gates * H || w[2] != x[2])
    return ctx.fail("W {} / R {} do not fit {} gates of hidden size {} and input size {}",
                    shape_str(w), shape_str(r), gates, H, x[2]);
  if (ctx.has_input(3) && ctx.in(3).shape != Shape{dirs, 2 * gates * H})
    return ctx.fail("B {} must be [{}, {}]", shape_str(ctx.in(3).shape), dirs, 2 * gates * H);
  if (ctx.has_input(4) && ctx.in(4).shape != Shape{batch})
    return ctx.fail("sequence_lens {} must be [{}]", shape_str(ctx.in(4).shape), batch);
  const Shape state = layout == 0 ? Shape{dirs, batch, H} : Shape{batch, dirs, H};
  for (size_t i : {5u, 6u})
    if (ctx.has_input(i) && ctx.in(i).shape != state)
      return ctx.fail("initial state {} must be {}", shape_str(ctx.in(i).shape), shape_str(state));
  if (ctx.has_input(7) && ctx.in(7).shape != Shape{dirs, 3 * H})
    return ctx.fail("P {} must be [{}, {}]", shape_str(ctx.in(7).shape), dirs, 3 * H);
  // sequence_lens values must lie in [0, seq] (checked here when known, again by the kernel).
  if (ctx.has_input(4) && ctx.in(4).value) {
    const Tensor& sl = *ctx.in(4).value;
    for (int64_t b = 0; b < sl.numel(); ++b)
      if (sl.get_i64(b) < 0 || sl.get_i64(b) > seq)
        return ctx.fail("sequence_lens[{}] = {} is outside [0, {}]", b, sl.get_i64(b), seq);
  }
  const Shape y = layout == 0 ? Shape{seq, dirs, batch, H} : Shape{batch, seq, dirs, H};
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    if (!n.output(i)) continue;
    ctx.set_out(i, t, i == 0 ? y : state);
  }
  return Status::ok();
}

}  // namespace

Status infer_RNN(InferCtx& ctx) {
  return infer_recurrent(ctx, 1, 1);
}
Status infer_GRU(InferCtx& ctx) {
  return infer_recurrent(ctx, 3, 2);
}
Status infer_LSTM(InferCtx& ctx) {
  if (ctx.node.attr_int("input_forget", 0) != 0 && ctx.node.attr_int("input_forget", 0) != 1)
    return ctx.fail("input_forget must be 0 or 1");
  return infer_recurrent(ctx, 4, 3);
}

}  // namespace condense
