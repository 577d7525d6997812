#include <condense/session.h>
#include <omp.h>

#include <algorithm>
#include <optional>
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
  std::vector<int> inputs;           // slot per input (-1: absent)
  std::vector<int> outputs;          // slot per output (-1: absent)
  std::vector<int> release;          // slots whose last use is this step
  std::vector<int> in_place;         // inputs whose buffer output 0 may take (they die here)
  uint32_t want_blocked = 0;         // bit i: every reader of output i takes blocked activations
  std::vector<Layout> last_layouts;  // of each output in the last run, for report()
};
}  // namespace

struct Session::Impl {
  ir::Graph graph;
  SessionOptions options;
  std::vector<Step> steps;
  std::vector<Tensor> slots;        // one per value; constants stay resident
  std::vector<bool> persistent;     // constants, graph inputs and outputs: kept until the end
  std::vector<bool> constant_slot;  // resident across runs
  std::vector<int> input_slots, output_slots;
  // Per slot: its layout in this run, and its copy in the other layout once a reader needed
  // one (released with the slot).
  std::vector<Layout> layouts;
  std::vector<Tensor> converted;
  BufferPool pool;
  // Reused per-step scratch, sized for the widest node.
  std::vector<TensorInfo> in_info, out_info;
  std::vector<const Tensor*> in_ptrs;
  std::vector<Layout> in_layouts, out_layouts;
  std::vector<Tensor> outs;

  // Hands input `i` of the current step over in the other layout, converting its slot once per
  // run.
  Status convert_input(int slot, size_t i);
  // A buffer for output 0 of `st`: the buffer of an input the kernel may overwrite, if one has
  // the output's dtype and shape and nothing else holds it; else null.
  std::shared_ptr<Storage> in_place_buffer(const Step& st, const TensorInfo& out) const;
  void release_slot(int slot);
  void plan_layouts();
};

namespace {
std::shared_ptr<Storage> take_storage(Tensor& t) {
  std::shared_ptr<Storage> s = t.storage();
  t = Tensor();
  return s;
}
}  // namespace

Status Session::Impl::convert_input(int slot, size_t i) {
  Tensor& copy = converted[slot];
  const Layout from = layouts[slot];
  if (!copy.defined()) {
    const Tensor& t = slots[slot];
    copy = Tensor::with_storage(t.dtype(), t.shape(), pool.acquire(t.nbytes()));
    CONDENSE_TRY(from == Layout::Blocked ? blocked_to_plain(t, copy) : plain_to_blocked(t, copy));
  }
  in_ptrs[i] = &copy;
  in_layouts[i] = from == Layout::Blocked ? Layout::Plain : Layout::Blocked;
  in_info[i].value = &copy;
  return Status::ok();
}

std::shared_ptr<Storage> Session::Impl::in_place_buffer(const Step& st,
                                                        const TensorInfo& out) const {
  for (int j : st.in_place) {
    const Tensor* t = in_ptrs[j];
    if (!t || !t->defined() || t->dtype() != out.dtype || t->shape() != out.shape) continue;
    const std::shared_ptr<Storage>& s = t->storage();
    if (s && s->owned && s.use_count() == 1 && t->raw() == s->data) return s;
  }
  return nullptr;
}

void Session::Impl::release_slot(int slot) {
  if (auto s = take_storage(slots[slot])) pool.release(std::move(s));
  if (auto s = take_storage(converted[slot])) pool.release(std::move(s));
  layouts[slot] = Layout::Plain;
}

// A step writes an output blocked only when every reader may take it blocked (and it is not a
// graph output, which the caller gets plain): otherwise a convolution would write blocked data
// that the next node converts right back.
void Session::Impl::plan_layouts() {
  std::vector<std::vector<std::pair<size_t, size_t>>> readers(slots.size());  // (step, input)
  for (size_t si = 0; si < steps.size(); ++si)
    for (size_t i = 0; i < steps[si].inputs.size(); ++i)
      if (steps[si].inputs[i] >= 0) readers[steps[si].inputs[i]].push_back({si, i});
  std::vector<bool> is_output(slots.size(), false);
  for (int s : output_slots) is_output[s] = true;
  for (Step& st : steps) {
    st.want_blocked = 0;
    for (size_t o = 0; o < st.outputs.size() && o < 32; ++o) {
      const int out = st.outputs[o];
      if (out < 0 || !st.kernel->may_produce_blocked(o)) continue;
      bool want = !is_output[out] && !readers[out].empty();
      for (auto [si, i] : readers[out]) want = want && steps[si].kernel->may_accept_blocked(i);
      if (want) st.want_blocked |= 1u << o;
    }
  }
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;
const ir::Graph& Session::graph() const {
  return impl_->graph;
}
const SessionOptions& Session::options() const {
  return impl_->options;
}

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
    if (last_use[s] >= 0 && !impl->persistent[s])
      impl->steps[last_use[s]].release.push_back(static_cast<int>(s));
  // Outputs nobody reads (unused optional outputs) are released right after their step.
  for (size_t i = 0; i < impl->steps.size(); ++i)
    for (int s : impl->steps[i].outputs)
      if (s >= 0 && last_use[s] < 0 && !impl->persistent[s]) impl->steps[i].release.push_back(s);
  // Elementwise kernels may write output 0 over an input that dies at their step.
  for (Step& st : impl->steps) {
    for (size_t j = 0; j < st.inputs.size(); ++j) {
      const int s = st.inputs[j];
      if (s < 0 || impl->persistent[s] || !st.kernel->may_write_in_place(j)) continue;
      if (std::find(st.release.begin(), st.release.end(), s) != st.release.end())
        st.in_place.push_back(static_cast<int>(j));
    }
  }
  impl->in_info.reserve(widest);
  impl->layouts.assign(impl->slots.size(), Layout::Plain);
  impl->converted.resize(impl->slots.size());
  impl->plan_layouts();
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
        return Status::errorf("input '{}' has shape {}, expected {}", v->name, shape_str(t.shape()),
                              ir::dims_str(v->dims));
    }
    im.slots[im.input_slots[i]] = t;
  }
  if (im.options.threads > 0) omp_set_num_threads(im.options.threads);

  Status failure;
  for (Step& st : im.steps) {
    const size_t nin = st.inputs.size(), nout = st.outputs.size();
    im.in_info.assign(nin, TensorInfo{});
    im.in_ptrs.assign(nin, nullptr);
    im.in_layouts.assign(nin, Layout::Plain);
    bool any_blocked = false;
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
      im.in_layouts[i] = im.layouts[st.inputs[i]];
      any_blocked |= im.in_layouts[i] == Layout::Blocked;
    }
    if (any_blocked) {
      // Decide for every input first (a same-shape kernel looks at all of them), then convert.
      KernelCtx probe{*st.node, im.in_ptrs, {}, im.options.threads, im.in_layouts};
      std::vector<size_t> to_convert;
      for (size_t i = 0; i < nin; ++i)
        if (st.inputs[i] >= 0 && st.kernel->required_layout(probe, i) != im.in_layouts[i])
          to_convert.push_back(i);
      for (size_t i : to_convert)
        if (failure = im.convert_input(st.inputs[i], i); !failure) break;
      if (!failure) break;
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
        std::shared_ptr<Storage> buf = i == 0 ? im.in_place_buffer(st, o) : nullptr;
        im.outs[i] = Tensor::with_storage(o.dtype, o.shape, buf ? buf : im.pool.acquire(bytes));
      } else if (o.shape_known) {
        im.outs[i] = Tensor::placeholder(o.dtype, o.shape);
      } else {
        im.outs[i] = Tensor::placeholder(o.dtype, {});
      }
    }
    im.out_layouts.assign(nout, Layout::Plain);
    KernelCtx kctx{*st.node,           im.in_ptrs,    std::span<Tensor>(im.outs.data(), nout),
                   im.options.threads, im.in_layouts, im.out_layouts,
                   st.want_blocked};
    failure = st.kernel->run(kctx);
    if (!failure) break;
    for (size_t i = 0; i < nout; ++i) {
      if (st.outputs[i] < 0) continue;
      im.slots[st.outputs[i]] = std::move(im.outs[i]);
      im.layouts[st.outputs[i]] = im.out_layouts[i];
    }
    st.last_layouts.assign(im.out_layouts.begin(), im.out_layouts.begin() + nout);
    for (int s : st.release) im.release_slot(s);
  }
  std::vector<Tensor> results;
  if (failure) {
    for (int s : im.output_slots) {
      if (im.layouts[s] == Layout::Blocked) {
        // The caller gets plain data in a buffer of its own.
        Tensor plain = Tensor::empty(im.slots[s].dtype(), im.slots[s].shape());
        if (failure = blocked_to_plain(im.slots[s], plain); !failure) break;
        results.push_back(std::move(plain));
      } else {
        results.push_back(im.slots[s]);
      }
    }
  }
  // Drop every non-constant reference so the caller owns what it gets; buffers nothing else
  // holds go back to the pool for the next run.
  for (size_t s = 0; s < im.slots.size(); ++s)
    if (!im.constant_slot[s]) im.release_slot(static_cast<int>(s));
  if (!failure) return failure;
  return results;
}

std::vector<NodeReport> Session::report() const {
  std::vector<NodeReport> r;
  for (const Step& st : impl_->steps) {
    NodeReport n;
    n.name = st.node->name;
    n.op = op_name(st.node->op);
    n.kernel = st.kernel->name();
    for (size_t i = 0; i < st.last_layouts.size(); ++i)
      n.output_layouts.push_back(st.outputs[i] < 0                       ? ""
                                 : st.last_layouts[i] == Layout::Blocked ? "blocked"
                                                                         : "plain");
    if (!n.output_layouts.empty()) n.layout = n.output_layouts[0];
    r.push_back(std::move(n));
  }
  return r;
}

}  // namespace condense
