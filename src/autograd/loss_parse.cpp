// parse_loss: the CLI form of a LossSpec ("ce:0.1", "kl:4", "mse:reduction=sum").
#include <condense/loss.h>

#include "autograd/optim_cli.h"

namespace condense::train {

namespace {

struct KindName {
  std::string_view name;
  LossKind kind;
};
constexpr KindName kKinds[] = {
    {"ce", LossKind::CrossEntropy}, {"cross_entropy", LossKind::CrossEntropy},
    {"nll", LossKind::Nll},         {"mse", LossKind::Mse},
    {"l1", LossKind::L1},           {"smooth_l1", LossKind::SmoothL1},
    {"kl", LossKind::KlDiv},        {"kl_div", LossKind::KlDiv},
    {"cosine", LossKind::Cosine},
};

}  // namespace

Result<LossSpec> parse_loss(std::string_view text) {
  CONDENSE_ASSIGN_OR_RETURN(detail::SpecArgs args, detail::SpecArgs::parse(text, "loss"));
  LossSpec spec;
  bool found = false;
  for (const KindName& k : kKinds)
    if (k.name == args.kind()) spec.kind = k.kind, found = true;
  if (!found)
    return args.fail(
        "unknown loss '{}' (known: ce, cross_entropy, nll, mse, l1, smooth_l1, kl, kl_div, "
        "cosine)",
        args.kind());
  switch (spec.kind) {
    case LossKind::CrossEntropy: {
      CONDENSE_TRY(args.bind({"label_smoothing", "reduction"}));
      CONDENSE_ASSIGN_OR_RETURN(spec.label_smoothing, args.number("label_smoothing", 0));
      if (spec.label_smoothing < 0 || spec.label_smoothing > 1)
        return args.fail("label_smoothing must be in [0, 1] (got {})", spec.label_smoothing);
      break;
    }
    case LossKind::SmoothL1: {
      CONDENSE_TRY(args.bind({"beta", "reduction"}));
      CONDENSE_ASSIGN_OR_RETURN(spec.beta, args.number("beta", 1));
      if (spec.beta < 0) return args.fail("beta must be >= 0 (got {})", spec.beta);
      break;
    }
    case LossKind::KlDiv: {
      CONDENSE_TRY(args.bind({"temperature", "reduction"}));
      CONDENSE_ASSIGN_OR_RETURN(spec.temperature, args.number("temperature", 1));
      if (spec.temperature <= 0)
        return args.fail("temperature must be > 0 (got {})", spec.temperature);
      break;
    }
    case LossKind::Cosine: {
      CONDENSE_TRY(args.bind({"axis", "reduction"}));
      CONDENSE_ASSIGN_OR_RETURN(spec.axis, args.integer("axis", 1));
      break;
    }
    default:
      CONDENSE_TRY(args.bind({"reduction"}));
      break;
  }
  if (args.has("reduction")) {
    const std::string r = args.word("reduction", "");
    if (r == "mean")
      spec.reduction = Reduction::Mean;
    else if (r == "sum")
      spec.reduction = Reduction::Sum;
    else if (r == "batchmean")
      spec.reduction = Reduction::BatchMean;
    else if (r == "none")
      spec.reduction = Reduction::None;
    else
      return args.fail("reduction must be mean, sum, batchmean or none (got '{}')", r);
  }
  return spec;
}

}  // namespace condense::train
