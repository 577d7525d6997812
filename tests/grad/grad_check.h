// Finite-difference gradient checker for the `grad` tests. A case is one op applied to
// parameters (float initializers that train), constants and omitted inputs; the scalar checked
// is a random projection of the op's outputs, sum_k sum(y_k * R_k), R_k uniform in [-1, 1).
// The analytic gradients come from the autograd training graph (reference kernels, f64); the
// numeric ones from central differences (f(p + h) - f(p - h)) / 2h on the same graph's loss.
#pragma once

#include <condense/autograd.h>
#include <condense/ir.h>

#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace condense::test {

struct GradInput {
  enum class Kind { Param, Const, Absent };
  Kind kind = Kind::Absent;
  Tensor value;
};
inline GradInput param(Tensor t) {
  return {GradInput::Kind::Param, std::move(t)};
}
inline GradInput konst(Tensor t) {
  return {GradInput::Kind::Const, std::move(t)};
}
inline GradInput absent() {
  return {GradInput::Kind::Absent, {}};
}

// Random tensors (f64 unless stated).
Tensor uniform(Shape shape, std::mt19937& rng, double lo = -1.0, double hi = 1.0,
               DType t = DType::F64);
// Uniform values with |x| >= margin (kinks of Relu, Abs, Clip bounds stay out of the FD step).
Tensor away_from(Shape shape, std::mt19937& rng, double kink = 0.0, double margin = 0.05);
// Distinct values (a shuffled grid with step 0.01 around 0): no ties for Max / MaxPool.
Tensor distinct(Shape shape, std::mt19937& rng);
Tensor i64s(std::vector<int64_t> v, Shape shape);
Tensor i64s(std::vector<int64_t> v);  // 1-D
Tensor f64s(std::vector<double> v, Shape shape);

struct GradCase {
  GradCase(std::string cfg, OpKind o) : config(std::move(cfg)), op(o) {}
  std::string config;  // printed on failure
  OpKind op;
  std::vector<GradInput> inputs;
  std::map<std::string, ir::Attribute> attrs;
  int outputs = 1;
  std::vector<int> checked_outputs;   // outputs in the projection; empty: every float output
  autograd::TrainingOptions options;  // parameters are filled in by the checker
  double tolerance = 1e-6;            // |num - ana| <= tol * (1 + |num|)
  int max_elements = 48;              // per parameter, a random subset beyond this
};

// Runs the case; reports every mismatch (and build/run errors) as gtest failures naming
// `config`, the parameter, the element and both values. Returns the number of mismatches.
int check_gradients(const GradCase& c);

// Compares given analytic gradients with central differences of `loss(params)`; the building
// block of check_gradients, exposed so a test can show that a wrong gradient is caught.
struct FdResult {
  int mismatches = 0;
  std::string first;  // description of the first mismatch
};
FdResult compare_with_finite_differences(
    const std::function<Result<double>(const std::vector<Tensor>&)>& loss,
    const std::vector<Tensor>& params, const std::vector<Tensor>& analytic, double tolerance,
    int max_elements, std::mt19937& rng);

}  // namespace condense::test
