// ONNX opset hooks for the elementwise family (see onnx/hooks.h). condense imports opset >= 7,
// where the old `broadcast`/`axis` attributes of the binary ops are gone; the only canonical-form
// change left is Clip's bounds (attributes before opset 11, inputs since).
#include <algorithm>

#include "onnx/hooks.h"

namespace condense::onnx_internal {

namespace {

// Clip-6: float attributes min/max -> scalar constant inputs 1 and 2, in the input's dtype when
// the importer knows it (a graph input or an initializer), else f32 (the kernel converts bounds).
Status upgrade_clip(UpgradeCtx& u) {
  if (u.opset >= 11) return Status::ok();
  ir::Value* x = u.node.input(0);
  DType dt = DType::F32;
  if (x && (x->is_constant() ||
            std::find(u.graph.inputs.begin(), u.graph.inputs.end(), x) != u.graph.inputs.end()))
    dt = x->dtype;
  if (dt != DType::F64 && dt != DType::F16 && dt != DType::BF16) dt = DType::F32;
  auto bound = [&](const char* name, size_t index) {
    const ir::Attribute* a = u.node.attr(name);
    if (!a) return;
    const float v = a->kind == ir::Attribute::Kind::Float ? a->f : static_cast<float>(a->i);
    Tensor t = Tensor::empty(dt, {});
    switch (dt) {
      case DType::F64:
        t.data<double>()[0] = v;
        break;
      case DType::F16:
        t.data<Half>()[0] = Half(v);
        break;
      case DType::BF16:
        t.data<BFloat16>()[0] = BFloat16(v);
        break;
      default:
        t.data<float>()[0] = v;
        break;
    }
    u.set_const_input(index, std::move(t));
    u.node.attrs.erase(name);
  };
  bound("min", 1);
  bound("max", 2);
  return Status::ok();
}

}  // namespace

void register_onnx_hooks_elementwise(HookTable& t) {
  t[OpKind::Clip].upgrade = &upgrade_clip;
  // Ops newer than opset 13 (export's floor): the lowest opset that has them.
  t[OpKind::HardSwish].min_opset = 14;
  t[OpKind::Mish].min_opset = 18;
  t[OpKind::BitwiseAnd].min_opset = 18;
  t[OpKind::BitwiseOr].min_opset = 18;
  t[OpKind::BitwiseXor].min_opset = 18;
  t[OpKind::BitwiseNot].min_opset = 18;
  t[OpKind::Gelu].min_opset = 20;
  t[OpKind::Swish].min_opset = 24;
}

}  // namespace condense::onnx_internal
