// Recurrent ops: layouts agree, sequence_lens pads Y with zeros and keeps the last valid state,
// bad shapes are errors.
#include <condense/ir.h>
#include <condense/session.h>
#include <gtest/gtest.h>

#include <cmath>

#include "node_runner.h"

using namespace condense;

using test::run_node;

TEST(RNN, SequenceLensAndLayouts) {
  // seq 3, batch 2, input 1, hidden 1; h_t = tanh(x_t + 0.5 h_{t-1}).
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2, 1});
  Tensor w = Tensor::from_vector<float>({1}, {1, 1, 1});
  Tensor r = Tensor::from_vector<float>({0.5f}, {1, 1, 1});
  Tensor lens = Tensor::from_vector<int32_t>({3, 1}, {2});
  auto out = run_node(OpKind::RNN, {x, w, r, std::nullopt, lens}, {}, 2);
  ASSERT_TRUE(out) << out.status().message();
  const std::vector<float> y = (*out)[0].to_f32_vector();  // (3, 1, 2, 1)
  const float h0 = std::tanh(1.f), h1 = std::tanh(3.f + 0.5f * h0), h2 = std::tanh(5.f + 0.5f * h1);
  EXPECT_NEAR(y[0], h0, 1e-6);
  EXPECT_NEAR(y[2], h1, 1e-6);
  EXPECT_NEAR(y[4], h2, 1e-6);
  EXPECT_NEAR(y[1], std::tanh(2.f), 1e-6);
  EXPECT_EQ(y[3], 0.f);  // batch 1 stops after one step
  EXPECT_EQ(y[5], 0.f);
  const std::vector<float> yh = (*out)[1].to_f32_vector();
  EXPECT_NEAR(yh[0], h2, 1e-6);
  EXPECT_NEAR(yh[1], std::tanh(2.f), 1e-6);  // last valid state
  // layout 1: X (batch, seq, input) gives the transposed Y.
  Tensor xb = Tensor::from_vector<float>({1, 3, 5, 2, 4, 6}, {2, 3, 1});
  auto out1 = run_node(OpKind::RNN, {xb, w, r, std::nullopt, lens},
                       {{"layout", ir::Attribute::of_int(1)}}, 2);
  ASSERT_TRUE(out1) << out1.status().message();
  const std::vector<float> y1 = (*out1)[0].to_f32_vector();  // (2, 3, 1, 1)
  EXPECT_NEAR(y1[2], h2, 1e-6);
  EXPECT_NEAR(y1[3], std::tanh(2.f), 1e-6);
  EXPECT_EQ(y1[4], 0.f);
}

TEST(LSTM, RejectsBadShapesAndLengths) {
  Tensor x = Tensor::zeros(DType::F32, {2, 1, 3});
  Tensor w = Tensor::zeros(DType::F32, {1, 8, 3});
  Tensor r = Tensor::zeros(DType::F32, {1, 8, 2});
  auto ok = run_node(OpKind::LSTM, {x, w, r}, {}, 3);
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ((*ok)[2].shape(), (Shape{1, 1, 2}));
  auto bad_w = run_node(OpKind::LSTM, {x, Tensor::zeros(DType::F32, {1, 7, 3}), r}, {}, 3);
  EXPECT_FALSE(bad_w);
  auto bad_len = run_node(OpKind::LSTM,
                          {x, w, r, std::nullopt, Tensor::from_vector<int32_t>({5}, {1})}, {}, 3);
  EXPECT_FALSE(bad_len);
  auto bad_dir =
      run_node(OpKind::LSTM, {x, w, r}, {{"direction", ir::Attribute::of_string("sideways")}}, 3);
  EXPECT_FALSE(bad_dir);
}

TEST(GRU, BidirectionalReverseMatchesForwardOnReversedInput) {
  Tensor x = Tensor::from_vector<float>({0.1f, -0.2f, 0.3f, 0.4f}, {4, 1, 1});
  Tensor xr = Tensor::from_vector<float>({0.4f, 0.3f, -0.2f, 0.1f}, {4, 1, 1});
  Tensor w = Tensor::from_vector<float>({0.5f, -0.3f, 0.8f}, {1, 3, 1});
  Tensor r = Tensor::from_vector<float>({0.2f, 0.1f, -0.4f}, {1, 3, 1});
  auto fwd =
      run_node(OpKind::GRU, {xr, w, r}, {{"linear_before_reset", ir::Attribute::of_int(1)}}, 2);
  auto rev = run_node(OpKind::GRU, {x, w, r},
                      {{"linear_before_reset", ir::Attribute::of_int(1)},
                       {"direction", ir::Attribute::of_string("reverse")}},
                      2);
  ASSERT_TRUE(fwd && rev);
  EXPECT_NEAR((*fwd)[1].to_f32_vector()[0], (*rev)[1].to_f32_vector()[0], 1e-6);
}
