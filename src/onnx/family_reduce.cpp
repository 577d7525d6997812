// ONNX opset hooks for the reduce family (see onnx/hooks.h).
#include "onnx/hooks.h"

namespace condense::onnx_internal {

namespace {

// Reduce* before opset 18 (ReduceSum: before 13) take `axes` as an attribute; canonical form is
// the optional axes input.
template <int kSince>
Status upgrade_reduce(UpgradeCtx& u) {
  if (u.opset >= kSince) return Status::ok();
  return u.attr_to_input("axes", 1, DType::I64);
}

// Export below the axes-as-input opset: the (constant) axes input becomes the attribute again.
template <int kSince>
Status downgrade_reduce(DowngradeCtx& d) {
  if (d.opset >= kSince || !d.node.input(1)) return Status::ok();
  const Tensor* axes = d.const_input(1);
  if (!axes) return Status::errorf("axes must be a constant to be written below opset {}", kSince);
  ::onnx::AttributeProto* a = d.proto.add_attribute();
  a->set_name("axes");
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t v : axes->to_i64_vector()) a->add_ints(v);
  d.drop_input(1);
  return Status::ok();
}

// Softmax/LogSoftmax/Hardmax before opset 13 coerce the input to 2-D [prod(d < axis),
// prod(d >= axis)] (axis default 1) and normalize each row; opset 13 normalizes along one axis
// (default -1). The two agree when `axis` is the last dimension. Otherwise the old meaning is
// rebuilt exactly in canonical form: Reshape/Flatten to 2-D, the op on axis -1, Reshape back.
// With a fully static input shape both reshapes use constant shapes (only Reshape is needed);
// with a dynamic shape the first is Flatten(axis) and the second takes Shape(x).
Status upgrade_softmax(UpgradeCtx& u) {
  ir::Node& n = u.node;
  if (u.opset >= 13) return Status::ok();
  const int64_t axis = n.attr_int("axis", 1);
  ir::Value* x = n.input(0);
  ir::Value* y = n.output(0);
  if (!x || !y) return Status::error("missing input or output");
  n.attrs["axis"] = ir::Attribute::of_int(-1);
  if (axis == -1) return Status::ok();  // the last dim whatever the rank: same meaning
  bool static_shape = x->has_shape;
  if (x->has_shape) {
    const int64_t rank = static_cast<int64_t>(x->dims.size());
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
      return Status::errorf("axis {} is out of range for rank {}", axis, rank);
    const int64_t a = axis < 0 ? axis + rank : axis;
    if (a == rank - 1) return Status::ok();  // same meaning in both opsets
    for (const ir::Dim& d : x->dims) static_shape = static_shape && d.is_static();
  }
  ir::Graph& g = u.graph;
  const std::string base = n.name + "_coerce2d";
  ir::Value* flat = nullptr;
  ir::Value* back_shape = nullptr;
  if (static_shape) {
    const int64_t rank = static_cast<int64_t>(x->dims.size());
    const int64_t a = axis < 0 ? axis + rank : axis;
    int64_t outer = 1, inner = 1;
    Shape full;
    for (int64_t d = 0; d < rank; ++d) {
      (d < a ? outer : inner) *= x->dims[d].value;
      full.push_back(x->dims[d].value);
    }
    ir::Value* s2 = g.add_constant(g.fresh_name(base + "_shape"),
                                   Tensor::from_vector<int64_t>({outer, inner}, {2}));
    flat = g.add_node(OpKind::Reshape, {x, s2}, 1, g.fresh_name(base + "_in"))->outputs[0];
    back_shape =
        g.add_constant(g.fresh_name(base + "_shape"),
                       Tensor::from_vector<int64_t>(full, {static_cast<int64_t>(full.size())}));
  } else {
    auto flatten = op_from_onnx("", "Flatten");
    auto shape = op_from_onnx("", "Shape");
    if (!flatten || !shape)
      return Status::error("converting the pre-opset-13 axis semantics needs Flatten and Shape");
    ir::Node* f = g.add_node(*flatten, {x}, 1, g.fresh_name(base + "_in"));
    f->attrs["axis"] = ir::Attribute::of_int(axis);
    flat = f->outputs[0];
    back_shape = g.add_node(*shape, {x}, 1, g.fresh_name(base + "_shape"))->outputs[0];
    back_shape->dtype = DType::I64;
  }
  flat->dtype = x->dtype;
  ir::Value* y2 = g.add_value(g.fresh_name(base + "_out"), y->dtype);
  n.inputs[0] = flat;
  n.outputs[0] = y2;
  y2->producer = &n;
  g.add_node_with_outputs(OpKind::Reshape, {y2, back_shape}, {y}, g.fresh_name(base + "_back"));
  return Status::ok();
}

// TopK before opset 10: `k` attribute -> input 1 (1-D int64 [k]).
Status upgrade_topk(UpgradeCtx& u) {
  if (u.opset >= 10) return Status::ok();
  if (!u.node.has_attr("k")) return Status::error("missing attribute 'k'");
  const int64_t k = u.node.attr_int("k", 0);
  u.node.attrs.erase("k");
  u.set_const_input(1, Tensor::from_vector<int64_t>({k}, {1}));
  return Status::ok();
}

// GroupNormalization-18 has per-group scale/bias (num_groups,), opset 21 per-channel (C,). With
// constant scale and bias and a static channel count, the per-group values are repeated C/G
// times each (exact). Otherwise the node keeps the internal attribute `_per_group_affine`,
// which the kernel honours; such a node cannot be exported (min opset is 21).
Status upgrade_group_norm(UpgradeCtx& u) {
  if (u.opset >= 21) return Status::ok();
  ir::Node& n = u.node;
  const int64_t groups = n.attr_int("num_groups", 0);
  ir::Value* x = n.input(0);
  ir::Value* scale = n.input(1);
  ir::Value* bias = n.input(2);
  const bool have_c = x && x->has_shape && x->dims.size() >= 2 && x->dims[1].is_static();
  if (have_c && scale && bias && scale->is_constant() && bias->is_constant() && groups > 0) {
    const int64_t c = x->dims[1].value;
    if (c % groups != 0)
      return Status::errorf("channels {} are not divisible by num_groups {}", c, groups);
    if (scale->constant->numel() != groups || bias->constant->numel() != groups)
      return Status::errorf("scale and bias must have num_groups = {} elements", groups);
    for (int i = 1; i <= 2; ++i) {
      const Tensor& src = *n.input(i)->constant;
      Tensor t = Tensor::empty(src.dtype(), {c});
      const size_t es = static_cast<size_t>(dtype_bits(src.dtype()) / 8);
      for (int64_t ch = 0; ch < c; ++ch)
        std::memcpy(static_cast<char*>(t.raw()) + ch * es,
                    static_cast<const char*>(src.raw()) + (ch / (c / groups)) * es, es);
      u.set_const_input(i, std::move(t));
    }
    return Status::ok();
  }
  n.attrs["_per_group_affine"] = ir::Attribute::of_int(1);
  return Status::ok();
}

Status downgrade_group_norm(DowngradeCtx& d) {
  if (d.node.attr_int("_per_group_affine", 0) != 0)
    return Status::error(
        "GroupNormalization with non-constant per-group scale/bias (opset 18) cannot be exported");
  return Status::ok();
}

}  // namespace

void register_onnx_hooks_reduce(HookTable& t) {
  t[OpKind::ReduceSum] = {&upgrade_reduce<13>, &downgrade_reduce<13>, 0};
  for (OpKind k : {OpKind::ReduceMean, OpKind::ReduceMax, OpKind::ReduceMin, OpKind::ReduceProd,
                   OpKind::ReduceL1, OpKind::ReduceL2, OpKind::ReduceLogSum,
                   OpKind::ReduceLogSumExp, OpKind::ReduceSumSquare})
    t[k] = {&upgrade_reduce<18>, &downgrade_reduce<18>, 0};
  for (OpKind k : {OpKind::Softmax, OpKind::LogSoftmax, OpKind::Hardmax})
    t[k].upgrade = &upgrade_softmax;
  t[OpKind::TopK].upgrade = &upgrade_topk;
  t[OpKind::TopK].min_opset = 11;  // largest/sorted
  t[OpKind::CumSum].min_opset = 11;
  t[OpKind::CumProd].min_opset = 26;
  t[OpKind::Einsum].min_opset = 12;
  t[OpKind::SoftmaxCrossEntropyLoss].min_opset = 13;
  t[OpKind::NegativeLogLikelihoodLoss].min_opset = 13;
  t[OpKind::LayerNormalization].min_opset = 17;
  t[OpKind::GroupNormalization] = {&upgrade_group_norm, &downgrade_group_norm, 21};
  t[OpKind::RMSNormalization].min_opset = 23;
  t[OpKind::Attention].min_opset = 23;
  t[OpKind::RotaryEmbedding].min_opset = 23;
}

}  // namespace condense::onnx_internal
