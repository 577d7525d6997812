// The elementwise loop engine (collapsed broadcast rows, parallel split) against the plain
// per-element broadcast iterator, over many shape pairs and both thread counts.
#include "kernels/ref/elementwise_loop.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <random>

#include "kernels/ref/broadcast.h"

using namespace condense;

namespace {

Tensor iota(Shape s, float start) {
  Tensor t = Tensor::empty(DType::F32, std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

std::string str(const Shape& a, const Shape& b, int threads) {
  return shape_str(a) + " op " + shape_str(b) + " threads=" + std::to_string(threads);
}

void check_pair(const Shape& sa, const Shape& sb, int threads) {
  Tensor a = iota(sa, 1.0f), b = iota(sb, 1000.0f);
  Shape out(std::max(sa.size(), sb.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < out.size() - sa.size() ? 1 : sa[i - (out.size() - sa.size())];
    const int64_t db = i < out.size() - sb.size() ? 1 : sb[i - (out.size() - sb.size())];
    out[i] = da == 1 ? db : da;
  }
  Tensor y = Tensor::empty(DType::F32, out);
  omp_set_num_threads(threads);
  // grain 1: always take the parallel split when threads > 1.
  ew::binary_map<float, float, float>(a, b, y, 1, [](float x, float z) { return x * 3.0f - z; });
  std::vector<float> want(y.numel());
  for_each_broadcast<2>(out, {&sa, &sb}, [&](int64_t i, const std::array<int64_t, 2>& o) {
    want[i] = a.data<float>()[o[0]] * 3.0f - b.data<float>()[o[1]];
  });
  for (int64_t i = 0; i < y.numel(); ++i)
    ASSERT_EQ(y.data<float>()[i], want[i]) << str(sa, sb, threads) << " at " << i;
}

}  // namespace

TEST(ElementwiseLoop, EdgeShapes) {
  const std::vector<std::pair<Shape, Shape>> cases = {{{}, {}},
                                                      {{1}, {}},
                                                      {{5}, {}},
                                                      {{}, {5}},
                                                      {{5}, {5}},
                                                      {{2, 3}, {3}},
                                                      {{2, 3}, {2, 1}},
                                                      {{3, 1}, {1, 4}},
                                                      {{2, 3, 4}, {3, 1}},
                                                      {{2, 1, 4}, {1, 3, 1}},
                                                      {{4, 3, 5, 5}, {3, 1, 1}},
                                                      {{1, 1, 7}, {7}},
                                                      {{2, 0, 3}, {3}},
                                                      {{0}, {1}},
                                                      {{1, 2, 1, 3, 1}, {2, 2, 1, 1, 1}},
                                                      {{3, 1, 1, 2}, {1, 2, 3, 1}},
                                                      {{17, 1}, {1, 33}},
                                                      {{1, 1}, {1, 1}}};
  for (const auto& [a, b] : cases)
    for (int threads : {1, 2}) check_pair(a, b, threads);
}

TEST(ElementwiseLoop, RandomShapes) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 300; ++iter) {
    const int rank = static_cast<int>(rng() % 5);
    Shape a(rank), b(rank);
    for (int d = 0; d < rank; ++d) {
      const int64_t n = 1 + rng() % 5;
      const int kind = static_cast<int>(rng() % 3);  // 0 both n, 1 a broadcasts, 2 b broadcasts
      a[d] = kind == 1 ? 1 : n;
      b[d] = kind == 2 ? 1 : n;
    }
    // Drop some leading dims of b (rank broadcasting).
    const int drop = rank ? static_cast<int>(rng() % (rank + 1)) : 0;
    b.erase(b.begin(), b.begin() + drop);
    check_pair(a, b, 1 + iter % 2);
  }
}
