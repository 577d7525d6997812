// Quantization-aware training (QAT): what `condense qat` runs, as a library. A prepared float
// model (quant::prepare: batch norms folded into the convolutions, activations fused) gets
// FakeQuantize nodes where static quantization (quant.h) would put QuantizeLinear /
// DequantizeLinear: on every quantized activation, on the weights (per output channel, symmetric)
// and on the Conv/Gemm biases (int32, scale = input scale x weight scale). Training (trainer.h)
// then learns the weights and the scales (LSQ); export_qat() turns the trained graph into a real
// QDQ model with integer weights and the learned scales.
//
//   using namespace condense;
//   quant::QuantizeOptions q;                           // static: u8 activations
//   q.weights = {.dtype = DType::I4, .granularity = quant::Granularity::PerChannel};
//   CONDENSE_ASSIGN_OR_RETURN(ir::Graph prepared, quant::prepare(std::move(model), q));
//   CONDENSE_ASSIGN_OR_RETURN(quant::CalibrationTable table,
//                             quant::calibrate(prepared, q, *train_set, {.batches = 16}));
//   CONDENSE_ASSIGN_OR_RETURN(quant::QatModel qat, quant::insert_fake_quant(std::move(prepared),
//                                                                          q, table));
//   CONDENSE_ASSIGN_OR_RETURN(auto trainer, train::Trainer::create(std::move(qat.graph), topts));
//   ... train::fit(*trainer, ...) ...
//   CONDENSE_ASSIGN_OR_RETURN(ir::Graph trained, trainer->model());
//   CONDENSE_ASSIGN_OR_RETURN(quant::QuantizeResult r, quant::export_qat(std::move(trained)));
//   CONDENSE_TRY(onnx::export_file(r.graph, "model.qat.onnx"));   // opset 13, 21 with int4
//
// Fidelity: FakeQuantize computes DequantizeLinear(QuantizeLinear(x)) with ONNX's rules (x /
// scale in f32, round half to even, saturation, zero point), and export_qat() quantizes each
// weight and bias with the same arithmetic, so the exported model computes the same values as
// the fake-quant graph (tests/quant/qat_test.cpp).
#pragma once

#include <condense/ir.h>
#include <condense/quant.h>
#include <condense/status.h>

#include <string>
#include <vector>

namespace condense::quant {

struct QatModel {
  // The prepared graph with FakeQuantize nodes (domain com.condense.train). Trainable scales:
  // "<weight>_fq_scale" (one per output channel, or (1) per tensor) and "<activation>_fq_scale"
  // (shape (1)); zero points "<name>_fq_zp" are integer constants (fixed).
  ir::Graph graph;
  std::vector<std::string> quantized;  // node names, graph order
  std::vector<std::string> excluded;
  std::vector<std::string> warnings;
  int64_t weights = 0, activations = 0, biases = 0;  // FakeQuantize nodes of each kind
};

// Inserts FakeQuantize into `prepared` (from prepare()) for static quantization with `options`:
// weights symmetric signed (I8 or I4; per tensor or per channel), their scales initialized to the
// clipping of max|w| that minimizes the squared quantization error; activations per tensor with
// the scale and zero point that `table` (calibrate()) gives; biases int32 with a derived scale.
// Errors: a scheme QAT does not train (asymmetric or unsigned weights, blocks, Add/Mul), no node
// to quantize (naming the op types looked for), a table without an entry the plan needs.
Result<QatModel> insert_fake_quant(ir::Graph prepared, const QuantizeOptions& options,
                                   const CalibrationTable& table);

// Rewrites a trained QAT graph into QDQ: FakeQuantize on a constant becomes DequantizeLinear of
// its integers (weights int8/int4, biases int32, quantized with the trained scales exactly as
// FakeQuantize rounds them), FakeQuantize on an activation becomes QuantizeLinear ->
// DequantizeLinear with the same scale and zero point. Opset 13, 21 with 4-bit weights.
Result<QuantizeResult> export_qat(ir::Graph trained);

}  // namespace condense::quant
