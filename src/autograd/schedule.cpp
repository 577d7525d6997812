// Learning-rate schedules: validation, the pure lr(step) / momentum(step) functions, and the CLI
// strings. Formulas: include/condense/optim.h.
#include <condense/optim.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "autograd/optim_cli.h"

namespace condense::train {

namespace {

constexpr std::string_view kKnown =
    "constant, step, multistep, cosine, onecycle; warmup:STEPS,<schedule> adds a warmup";

std::string_view kind_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::Constant:
      return "constant";
    case ScheduleKind::Step:
      return "step";
    case ScheduleKind::MultiStep:
      return "multistep";
    case ScheduleKind::Cosine:
      return "cosine";
    case ScheduleKind::OneCycle:
      return "onecycle";
  }
  return "?";
}

// Context-free checks of a spec; errors name it by its canonical string.
Status check_spec(const ScheduleSpec& s) {
  auto fail = [&](std::string_view msg) {
    return Status::errorf("schedule '{}': {}", schedule_str(s), msg);
  };
  switch (s.kind) {
    case ScheduleKind::Constant:
      break;
    case ScheduleKind::Step:
      if (s.step_size < 1) return fail("step_size must be >= 1 epoch");
      if (!(s.gamma > 0 && std::isfinite(s.gamma))) return fail("gamma must be > 0");
      break;
    case ScheduleKind::MultiStep:
      if (s.milestones.empty()) return fail("needs at least one milestone epoch");
      for (size_t i = 0; i < s.milestones.size(); ++i)
        if (s.milestones[i] < 0 || (i > 0 && s.milestones[i] <= s.milestones[i - 1]))
          return fail("milestones must be increasing epochs >= 0");
      if (!(s.gamma > 0 && std::isfinite(s.gamma))) return fail("gamma must be > 0");
      break;
    case ScheduleKind::Cosine:
      if (!(s.eta_min >= 0 && std::isfinite(s.eta_min))) return fail("eta_min must be >= 0");
      break;
    case ScheduleKind::OneCycle:
      if (!(s.pct_start > 0 && s.pct_start < 1)) return fail("pct_start must be in (0, 1)");
      if (!(s.div_factor > 0 && std::isfinite(s.div_factor))) return fail("div_factor must be > 0");
      if (!(s.final_div_factor > 0 && std::isfinite(s.final_div_factor)))
        return fail("final_div_factor must be > 0");
      if (!(s.base_momentum >= 0 && s.base_momentum < 1 && s.max_momentum >= 0 &&
            s.max_momentum < 1))
        return fail("base_momentum and max_momentum must be in [0, 1)");
      if (s.warmup_steps > 0)
        return fail("onecycle has its own warm-up (pct_start); it takes no warmup prefix");
      break;
  }
  if (s.warmup_steps < 0) return fail("warmup steps must be >= 0");
  if (!(s.warmup_start_factor > 0 && s.warmup_start_factor <= 1))
    return fail("warmup start_factor must be in (0, 1]");
  return Status::ok();
}

// cos annealing from `start` (pct 0) to `end` (pct 1), PyTorch's _annealing_cos.
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
}

Result<bool> parse_flag(const detail::SpecArgs& a, std::string_view name, bool fallback) {
  const std::string w = a.word(name, fallback ? "1" : "0");
  if (w == "1" || w == "true" || w == "on") return true;
  if (w == "0" || w == "false" || w == "off") return false;
  return a.fail("{} must be 0 or 1 (got '{}')", name, w);
}

Status parse_inner(std::string_view text, ScheduleSpec& spec) {
  CONDENSE_ASSIGN_OR_RETURN(detail::SpecArgs a, detail::SpecArgs::parse(text, "schedule"));
  const std::string& k = a.kind();
  if (k == "constant") {
    spec.kind = ScheduleKind::Constant;
    return a.bind({});
  }
  if (k == "step") {
    spec.kind = ScheduleKind::Step;
    CONDENSE_TRY(a.bind({"step_size", "gamma"}));
    if (!a.has("step_size")) return a.fail("needs a step size in epochs: step:STEP_SIZE[:GAMMA]");
    CONDENSE_ASSIGN_OR_RETURN(spec.step_size, a.integer("step_size", 0));
    CONDENSE_ASSIGN_OR_RETURN(spec.gamma, a.number("gamma", spec.gamma));
    return Status::ok();
  }
  if (k == "multistep") {
    spec.kind = ScheduleKind::MultiStep;
    CONDENSE_TRY(a.bind({"milestones", "gamma"}));
    if (!a.has("milestones")) return a.fail("needs milestone epochs: multistep:M1,M2,...[:GAMMA]");
    CONDENSE_ASSIGN_OR_RETURN(spec.milestones, a.integers("milestones"));
    CONDENSE_ASSIGN_OR_RETURN(spec.gamma, a.number("gamma", spec.gamma));
    return Status::ok();
  }
  if (k == "cosine") {
    spec.kind = ScheduleKind::Cosine;
    CONDENSE_TRY(a.bind({"eta_min", "per"}));
    CONDENSE_ASSIGN_OR_RETURN(spec.eta_min, a.number("eta_min", 0));
    const std::string per = a.word("per", "step");
    if (per != "step" && per != "epoch") return a.fail("per must be step or epoch (got '{}')", per);
    spec.per_epoch = per == "epoch";
    return Status::ok();
  }
  if (k == "onecycle") {
    spec.kind = ScheduleKind::OneCycle;
    CONDENSE_TRY(a.bind({"pct_start", "div_factor", "final_div_factor", "cycle_momentum",
                         "base_momentum", "max_momentum"}));
    CONDENSE_ASSIGN_OR_RETURN(spec.pct_start, a.number("pct_start", spec.pct_start));
    CONDENSE_ASSIGN_OR_RETURN(spec.div_factor, a.number("div_factor", spec.div_factor));
    CONDENSE_ASSIGN_OR_RETURN(spec.final_div_factor,
                              a.number("final_div_factor", spec.final_div_factor));
    CONDENSE_ASSIGN_OR_RETURN(spec.cycle_momentum,
                              parse_flag(a, "cycle_momentum", spec.cycle_momentum));
    CONDENSE_ASSIGN_OR_RETURN(spec.base_momentum, a.number("base_momentum", spec.base_momentum));
    CONDENSE_ASSIGN_OR_RETURN(spec.max_momentum, a.number("max_momentum", spec.max_momentum));
    return Status::ok();
  }
  if (k == "warmup") return a.fail("warmup comes first and once: warmup:STEPS,<schedule>");
  return a.fail("unknown schedule '{}' (known: {})", k, kKnown);
}

}  // namespace

Result<ScheduleSpec> parse_schedule(std::string_view text) {
  ScheduleSpec spec;
  std::string_view inner = text;
  if (text.substr(0, 6) == "warmup") {
    const size_t comma = text.find(',');
    CONDENSE_ASSIGN_OR_RETURN(detail::SpecArgs w,
                              detail::SpecArgs::parse(text.substr(0, comma), "schedule"));
    if (w.kind() != "warmup") return w.fail("unknown schedule '{}' (known: {})", w.kind(), kKnown);
    CONDENSE_TRY(w.bind({"steps", "start_factor"}));
    if (!w.has("steps")) return w.fail("warmup needs a step count: warmup:STEPS,<schedule>");
    CONDENSE_ASSIGN_OR_RETURN(spec.warmup_steps, w.integer("steps", 0));
    if (spec.warmup_steps < 1) return w.fail("warmup steps must be >= 1");
    CONDENSE_ASSIGN_OR_RETURN(spec.warmup_start_factor,
                              w.number("start_factor", spec.warmup_start_factor));
    inner = comma == std::string_view::npos ? "constant" : text.substr(comma + 1);
  }
  CONDENSE_TRY(parse_inner(inner, spec));
  CONDENSE_TRY(check_spec(spec));
  return spec;
}

std::string schedule_str(const ScheduleSpec& s) {
  std::string out;
  if (s.warmup_steps != 0)
    out = fmt::format("warmup:{}:{},", s.warmup_steps, s.warmup_start_factor);
  out += kind_name(s.kind);
  switch (s.kind) {
    case ScheduleKind::Constant:
      break;
    case ScheduleKind::Step:
      out += fmt::format(":{}:{}", s.step_size, s.gamma);
      break;
    case ScheduleKind::MultiStep:
      out += fmt::format(":{}:{}", fmt::join(s.milestones, ","), s.gamma);
      break;
    case ScheduleKind::Cosine:
      out += fmt::format(":{}:per={}", s.eta_min, s.per_epoch ? "epoch" : "step");
      break;
    case ScheduleKind::OneCycle:
      out += fmt::format(":{}:{}:{}:cycle_momentum={}:base_momentum={}:max_momentum={}",
                         s.pct_start, s.div_factor, s.final_div_factor, s.cycle_momentum ? 1 : 0,
                         s.base_momentum, s.max_momentum);
      break;
  }
  return out;
}

Result<LrSchedule> LrSchedule::create(const ScheduleSpec& spec, double base_lr,
                                      int64_t steps_per_epoch, int64_t epochs) {
  CONDENSE_TRY(check_spec(spec));
  auto fail = [&](std::string msg) {
    return Status::errorf("schedule '{}': {}", schedule_str(spec), msg);
  };
  if (!(base_lr > 0 && std::isfinite(base_lr)))
    return fail(fmt::format("the learning rate must be > 0 (got {})", base_lr));
  if (steps_per_epoch < 1 || epochs < 1)
    return fail(fmt::format("the run needs at least one epoch of one step (got {} epochs of {})",
                            epochs, steps_per_epoch));
  const int64_t total = steps_per_epoch * epochs;
  if (spec.warmup_steps >= total)
    return fail(fmt::format("the warmup of {} steps does not end before the run does ({} steps)",
                            spec.warmup_steps, total));
  if (spec.kind == ScheduleKind::OneCycle && spec.pct_start * static_cast<double>(total) <= 1)
    return fail(fmt::format("the first phase needs pct_start * total steps > 1 (got {} * {})",
                            spec.pct_start, total));
  LrSchedule s;
  s.spec_ = spec;
  s.base_lr_ = base_lr;
  s.steps_per_epoch_ = steps_per_epoch;
  s.epochs_ = epochs;
  return s;
}

double LrSchedule::inner_lr(int64_t step) const {
  const ScheduleSpec& s = spec_;
  const int64_t epoch = step / steps_per_epoch_;
  switch (s.kind) {
    case ScheduleKind::Constant:
      return base_lr_;
    case ScheduleKind::Step:
      return base_lr_ * std::pow(s.gamma, static_cast<double>(epoch / s.step_size));
    case ScheduleKind::MultiStep: {
      const auto passed =
          std::upper_bound(s.milestones.begin(), s.milestones.end(), epoch) - s.milestones.begin();
      return base_lr_ * std::pow(s.gamma, static_cast<double>(passed));
    }
    case ScheduleKind::Cosine: {
      const int64_t t = s.per_epoch ? epoch : step;
      const int64_t period = s.per_epoch ? epochs_ : total_steps();
      if (t >= period) return s.eta_min;
      return anneal_cos(base_lr_, s.eta_min, static_cast<double>(t) / static_cast<double>(period));
    }
    case ScheduleKind::OneCycle: {
      const double initial = base_lr_ / s.div_factor;
      const double min_lr = initial / s.final_div_factor;
      const double end1 = s.pct_start * static_cast<double>(total_steps()) - 1;
      const double end2 = static_cast<double>(total_steps() - 1);
      const double t = static_cast<double>(std::min(step, total_steps() - 1));
      if (t <= end1) return anneal_cos(initial, base_lr_, t / end1);
      return anneal_cos(base_lr_, min_lr, (t - end1) / (end2 - end1));
    }
  }
  return base_lr_;
}

double LrSchedule::lr(int64_t step) const {
  CONDENSE_CHECK(step >= 0);
  double lr = inner_lr(step);
  if (step < spec_.warmup_steps) {
    const double f = spec_.warmup_start_factor;
    lr *= f + (1 - f) * static_cast<double>(step) / static_cast<double>(spec_.warmup_steps);
  }
  return lr;
}

std::optional<double> LrSchedule::momentum(int64_t step) const {
  CONDENSE_CHECK(step >= 0);
  const ScheduleSpec& s = spec_;
  if (s.kind != ScheduleKind::OneCycle || !s.cycle_momentum) return std::nullopt;
  const double end1 = s.pct_start * static_cast<double>(total_steps()) - 1;
  const double end2 = static_cast<double>(total_steps() - 1);
  const double t = static_cast<double>(std::min(step, total_steps() - 1));
  if (t <= end1) return anneal_cos(s.max_momentum, s.base_momentum, t / end1);
  return anneal_cos(s.base_momentum, s.max_momentum, (t - end1) / (end2 - end1));
}

}  // namespace condense::train
