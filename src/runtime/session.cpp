#include <condense/session.h>
#include <omp.h>

#include <algorithm>
#include <unordered_map>

#include "kernels/kernel.h"
#include "ops/infer.h"
#include "passes/pass.h"
#include "runtime/buffer_pool.h"

namespace condense {

namespace {
struct Step {
  ir::Node* node = nullptr;
  std::unique_ptr<Kernel> kernel;
  std::vector<int> inputs;   // slot per input (-1: absent)
  std::vector<int> outputs;  // slot per output (-1: absent)
  std::vector<int> release;  // slots whose last use is this step
};
}  // namespace

struct Session::Impl {
  ir::Graph graph;
  SessionOptions options;
  std::vector<Step> steps;
  std::vector<Tensor> slots;           // one per value; constants stay resident
  std::vector<bool> persistent;        // constants, graph inputs and outputs: kept until the end
  std::vector<bool> constant_slot;     // resident across runs
  std::vector<int> input_slots, output_slots;
  BufferPool pool;
  // Reused per-step scratch, sized for the widest node.
  std::vector<TensorInfo> in_info, out_info;
  std::vector<const Tensor*> in_ptrs;
  std::vector<Tensor> outs;
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
const ir::Graph& Session::graph() const { return impl_->graph; }
const SessionOptions& Session::options() const { return impl_->options; }

Result<std::unique_ptr<Session>> Session::create(ir::Graph graph, SessionOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  CONDENSE_TRY(graph.verify());
  if (options.optimize) {
    auto passes = default_load_passes();
    PassContext pctx;
    CONDENSE_TRY(run_passes(graph, passes, pctx));
  }
  CONDENSE_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, graph.topological_order());

  std::unordered_map<const ir::Value*, int> slot_of;
  auto slot = [&](const ir::Value* v) {
    auto [it, inserted] = slot_of.emplace(v, static_cast<int>(slot_of.size()));
    return it->second;
  };
  for (const auto& v : graph.values()) slot(v.get());
  impl->slots.resize(slot_of.size());
  impl->persistent.assign(slot_of.size(), false);
  impl->constant_slot.assign(slot_of.size(), false);
  for (const auto& v : graph.values()) {
    if (v->is_constant()) {
      impl->slots[slot_of[v.get()]] = *v->constant;
      impl->persistent[slot_of[v.get()]] = true;
      impl->constant_slot[slot_of[v.get()]] = true;
    }
  }
  for (ir::Value* v : graph.inputs) {
    impl->input_slots.push_back(slot_of[v]);
    impl->persistent[slot_of[v]] = true;
  }
  for (ir::Value* v : graph.outputs) {
    impl->output_slots.push_back(slot_of[v]);
    impl->persistent[slot_of[v]] = true;  // handed to the caller, never pooled
  }

  std::vector<int> last_use(slot_of.size(), -1);
  size_t widest = 0;
  for (ir::Node* n : order) {
    Step st;
    st.node = n;
    KernelCreateCtx kctx{*n, {}, {}, options.threads};
    for (ir::Value* in : n->inputs) {
      st.inputs.push_back(in ? slot_of[in] : -1);
      kctx.constant_inputs.push_back(in && in->is_constant() ? &*in->constant : nullptr);
      kctx.input_dtypes.push_back(in ? in->dtype : DType::F32);
    }
    for (ir::Value* out : n->outputs) st.outputs.push_back(out ? slot_of[out] : -1);
    auto kernel = create_kernel(kctx, options.fast_kernels);
    if (!kernel) return kernel.status();
    st.kernel = std::move(*kernel);
    for (int s : st.inputs)
      if (s >= 0) last_use[s] = static_cast<int>(impl->steps.size());
    widest = std::max({widest, n->inputs.size(), n->outputs.size()});
    impl->steps.push_back(std::move(st));
  }
  for (size_t s = 0; s < last_use.size(); ++s)
    if (last_use[s] >= 0 && !impl->persistent[s]) impl->steps[last_use[s]].release.push_back(static_cast<int>(s));
  // Outputs nobody reads (unused optional outputs) are released right after their step.
  for (size_t i = 0; i < impl->steps.size(); ++i)
    for (int s : impl->steps[i].outputs)
      if (s >= 0 && last_use[s] < 0 && !impl->persistent[s]) impl->steps[i].release.push_back(s);
  impl->in_info.reserve(widest);
  impl->graph = std::move(graph);
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Result<std::vector<Tensor>> Session::run(const std::map<std::string, Tensor>& feeds) {
  std::vector<Tensor> ordered;
  for (const ir::Value* v : impl_->graph.inputs) {
    auto it = feeds.find(v->name);
    if (it == feeds.end()) return Status::errorf("input '{}' was not given", v->name);
    ordered.push_back(it->second);
  }
  for (const auto& [name, t] : feeds) {
    bool known = false;
    for (const ir::Value* v : impl_->graph.inputs) known |= v->name == name;
    if (!known) {
      std::string names;
      for (const ir::Value* v : impl_->graph.inputs) names += (names.empty() ? "" : ", ") + v->name;
      return Status::errorf("the model has no input named '{}' (inputs: {})", name, names);
    }
  }
  return run(ordered);
}

Result<std::vector<Tensor>> Session::run(std::span<const Tensor> inputs) {
  Impl& im = *impl_;
  const auto& gin = im.graph.inputs;
  if (inputs.size() != gin.size())
    return Status::errorf("expected {} inputs, got {}", gin.size(), inputs.size());
  for (size_t i = 0; i < gin.size(); ++i) {
    const ir::Value* v = gin[i];
    const Tensor& t = inputs[i];
    if (!t.defined() && t.numel() != 0) return Status::errorf("input '{}' is empty", v->name);
    if (t.dtype() != v->dtype)
      return Status::errorf("input '{}' has dtype {}, expected {}", v->name, dtype_name(t.dtype()),
                            dtype_name(v->dtype));
    if (v->has_shape) {
      bool ok = t.rank() == static_cast<int64_t>(v->dims.size());
      for (size_t d = 0; ok && d < v->dims.size(); ++d)
        ok = !v->dims[d].is_static() || v->dims[d].value == t.shape()[d];
      if (!ok)
        return Status::errorf("input '{}' has shape {}, expected {}", v->name,
                              shape_str(t.shape()), ir::dims_str(v->dims));
    }
    im.slots[im.input_slots[i]] = t;
  }
  if (im.options.threads > 0) omp_set_num_threads(im.options.threads);

  Status failure;
  for (Step& st : im.steps) {
    const size_t nin = st.inputs.size(), nout = st.outputs.size();
    im.in_info.assign(nin, TensorInfo{});
    im.in_ptrs.assign(nin, nullptr);
    for (size_t i = 0; i < nin; ++i) {
      if (st.inputs[i] < 0) {
        im.in_info[i].present = false;
        continue;
      }
      const Tensor& t = im.slots[st.inputs[i]];
      im.in_info[i].dtype = t.dtype();
      im.in_info[i].shape = t.shape();
      im.in_info[i].value = &t;
      im.in_ptrs[i] = &t;
    }
    im.out_info.assign(nout, TensorInfo{});
    InferCtx ictx{*st.node, im.in_info, im.out_info};
    failure = infer_fn(st.node->op)(ictx);
    if (!failure) break;
    im.outs.resize(nout);
    for (size_t i = 0; i < nout; ++i) {
      const TensorInfo& o = im.out_info[i];
      if (st.outputs[i] < 0 || !o.present) {
        im.outs[i] = Tensor();
        continue;
      }
      if (o.allocate && o.shape_known) {
        size_t bytes = dtype_storage_bytes(o.dtype, shape_numel(o.shape));
        im.outs[i] = Tensor::with_storage(o.dtype, o.shape, im.pool.acquire(bytes));
      } else if (o.shape_known) {
        im.outs[i] = Tensor::placeholder(o.dtype, o.shape);
      } else {
        im.outs[i] = Tensor::placeholder(o.dtype, {});
      }
    }
    KernelCtx kctx{*st.node, im.in_ptrs, std::span<Tensor>(im.outs.data(), nout),
                   im.options.threads};
    failure = st.kernel->run(kctx);
    if (!failure) break;
    for (size_t i = 0; i < nout; ++i)
      if (st.outputs[i] >= 0) im.slots[st.outputs[i]] = std::move(im.outs[i]);
    for (int s : st.release) {
      std::shared_ptr<Storage> storage = im.slots[s].storage();
      im.slots[s] = Tensor();
      im.pool.release(std::move(storage));
    }
  }
  std::vector<Tensor> results;
  if (failure) {
    for (int s : im.output_slots) results.push_back(im.slots[s]);
  }
  // Drop every non-constant reference so the caller owns what it gets; buffers nothing else
  // holds go back to the pool for the next run.
  for (size_t s = 0; s < im.slots.size(); ++s) {
    if (im.constant_slot[s]) continue;
    std::shared_ptr<Storage> storage = im.slots[s].storage();
    im.slots[s] = Tensor();
    if (storage) im.pool.release(std::move(storage));
  }
  if (!failure) return failure;
  return results;
}

std::vector<NodeReport> Session::report() const {
  std::vector<NodeReport> r;
  for (const Step& st : impl_->steps)
    r.push_back({st.node->name, std::string(op_name(st.node->op)), std::string(st.kernel->name())});
  return r;
}

}  // namespace condense
