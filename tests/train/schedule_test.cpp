// Learning-rate schedules: values against torch.optim.lr_scheduler (fixture), the CLI grammar
// and its errors.
#include <condense/optim.h>

#include <cmath>

#include "fixture.h"

using namespace condense;
using condense::test::Arrays;

TEST(Schedule, MatchesPyTorch) {
  Arrays a("schedules.npz");
  const nlohmann::json cases = test::fixture_cases("schedules");
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    const std::string name = c.at("name"), text = c.at("spec");
    SCOPED_TRACE(name + " (" + text + ")");
    auto spec = train::parse_schedule(text);
    ASSERT_TRUE(spec) << spec.status().message();
    const int64_t spe = c.at("steps_per_epoch"), epochs = c.at("epochs");
    auto s = train::LrSchedule::create(*spec, c.at("base_lr").get<double>(), spe, epochs);
    ASSERT_TRUE(s) << s.status().message();
    const Tensor& lr = a.at(name + ".lr");
    ASSERT_EQ(lr.numel(), s->total_steps());
    const bool has_momentum = a.has(name + ".momentum");
    for (int64_t t = 0; t < s->total_steps(); ++t) {
      const double want = lr.get_f64(t);
      EXPECT_NEAR(s->lr(t), want, 1e-9 * want) << "step " << t;
      EXPECT_EQ(s->lr(t / spe, t % spe), s->lr(t));
      std::optional<double> m = s->momentum(t);
      ASSERT_EQ(m.has_value(), has_momentum) << "step " << t;
      if (m) {
        EXPECT_NEAR(*m, a.at(name + ".momentum").get_f64(t), 1e-12) << "step " << t;
      }
    }
  }
}

TEST(Schedule, HoldsTheFinalValueAfterTheRun) {
  auto cosine = train::LrSchedule::create(*train::parse_schedule("cosine:0.001"), 0.1, 10, 3);
  ASSERT_TRUE(cosine);
  EXPECT_DOUBLE_EQ(cosine->lr(30), 0.001);
  EXPECT_DOUBLE_EQ(cosine->lr(1000), 0.001);
  auto onecycle = train::LrSchedule::create(*train::parse_schedule("onecycle"), 0.1, 10, 3);
  ASSERT_TRUE(onecycle);
  EXPECT_NEAR(onecycle->lr(29), 0.1 / 25 / 1e4, 1e-15);
  EXPECT_EQ(onecycle->lr(29), onecycle->lr(500));
  EXPECT_EQ(onecycle->momentum(29), onecycle->momentum(500));
  auto step = train::LrSchedule::create(*train::parse_schedule("step:2:0.5"), 1, 10, 3);
  ASSERT_TRUE(step);
  EXPECT_DOUBLE_EQ(step->lr(40), 0.25);  // epoch 4: two decays
}

TEST(Schedule, ParsesCliStrings) {
  struct Case {
    std::string text;
    train::ScheduleKind kind;
  };
  for (const Case& c : std::vector<Case>{{"constant", train::ScheduleKind::Constant},
                                         {"cosine", train::ScheduleKind::Cosine},
                                         {"step:30:0.1", train::ScheduleKind::Step},
                                         {"multistep:30,60:0.1", train::ScheduleKind::MultiStep},
                                         {"onecycle", train::ScheduleKind::OneCycle},
                                         {"warmup:500,cosine", train::ScheduleKind::Cosine},
                                         {"warmup:500", train::ScheduleKind::Constant}}) {
    auto s = train::parse_schedule(c.text);
    ASSERT_TRUE(s) << c.text << ": " << s.status().message();
    EXPECT_EQ(s->kind, c.kind) << c.text;
    // The canonical string parses back to the same spec.
    auto again = train::parse_schedule(train::schedule_str(*s));
    ASSERT_TRUE(again) << train::schedule_str(*s) << ": " << again.status().message();
    EXPECT_EQ(train::schedule_str(*again), train::schedule_str(*s));
  }
  auto ms = train::parse_schedule("warmup:200:0.01,multistep:30,60,90:0.2");
  ASSERT_TRUE(ms) << ms.status().message();
  EXPECT_EQ(ms->warmup_steps, 200);
  EXPECT_DOUBLE_EQ(ms->warmup_start_factor, 0.01);
  EXPECT_EQ(ms->milestones, (std::vector<int64_t>{30, 60, 90}));
  EXPECT_DOUBLE_EQ(ms->gamma, 0.2);
  EXPECT_EQ(train::schedule_str(*ms), "warmup:200:0.01,multistep:30,60,90:0.2");

  auto step = train::parse_schedule("step:30");
  ASSERT_TRUE(step);
  EXPECT_EQ(step->step_size, 30);
  EXPECT_DOUBLE_EQ(step->gamma, 0.1);

  auto oc = train::parse_schedule("onecycle:0.25:div_factor=10:cycle_momentum=off");
  ASSERT_TRUE(oc) << oc.status().message();
  EXPECT_DOUBLE_EQ(oc->pct_start, 0.25);
  EXPECT_DOUBLE_EQ(oc->div_factor, 10);
  EXPECT_DOUBLE_EQ(oc->final_div_factor, 1e4);
  EXPECT_FALSE(oc->cycle_momentum);

  auto cos = train::parse_schedule("cosine:1e-5:per=epoch");
  ASSERT_TRUE(cos);
  EXPECT_DOUBLE_EQ(cos->eta_min, 1e-5);
  EXPECT_TRUE(cos->per_epoch);
}

TEST(Schedule, BadStringsAreClearErrors) {
  const std::pair<std::string, std::string> bad[] = {
      {"cosin", "schedule 'cosin': unknown schedule 'cosin' (known: constant, step, multistep"},
      {"", "schedule '': is empty"},
      {"step", "schedule 'step': needs a step size in epochs: step:STEP_SIZE[:GAMMA]"},
      {"step:x:0.1", "schedule 'step:x:0.1': step_size must be an integer (got 'x')"},
      {"step:0", "step_size must be >= 1 epoch"},
      {"step:30:-1", "gamma must be > 0"},
      {"step:30:0.1:9", "too many arguments: 'step' takes at most 2 (step_size, gamma)"},
      {"multistep", "needs milestone epochs: multistep:M1,M2,...[:GAMMA]"},
      {"multistep:60,30:0.1", "milestones must be increasing epochs >= 0"},
      {"multistep:30,,60", "milestones must be a comma-separated list of integers"},
      {"cosine:per=hour", "per must be step or epoch (got 'hour')"},
      {"cosine:-1", "eta_min must be >= 0"},
      {"cosine:gamma=2", "unknown argument 'gamma' (known: eta_min, per)"},
      {"constant:3", "'constant' takes no arguments"},
      {"onecycle:1.5", "pct_start must be in (0, 1)"},
      {"onecycle:cycle_momentum=maybe", "cycle_momentum must be 0 or 1 (got 'maybe')"},
      {"warmup:500,onecycle", "onecycle has its own warm-up (pct_start); it takes no warmup"},
      {"warmup:abc,cosine", "schedule 'warmup:abc': steps must be an integer (got 'abc')"},
      {"warmup,cosine", "warmup needs a step count: warmup:STEPS,<schedule>"},
      {"warmup:0,cosine", "warmup steps must be >= 1"},
      {"warmup:10:2,cosine", "warmup start_factor must be in (0, 1]"},
      {"warmup:500,warmup:3", "warmup comes first and once"},
      {"warmup:500,", "is empty"},
      {"warmupx:3", "unknown schedule 'warmupx'"},
      {"step::0.1", "argument 1 is empty"},
  };
  for (const auto& [text, fragment] : bad) {
    auto r = train::parse_schedule(text);
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos)
        << text << ": " << r.status().message();
  }
}

TEST(Schedule, RunThatDoesNotFitIsAnError) {
  auto expect_error = [](const std::string& text, double lr, int64_t spe, int64_t epochs,
                         const std::string& fragment) {
    auto spec = train::parse_schedule(text);
    ASSERT_TRUE(spec) << text;
    auto s = train::LrSchedule::create(*spec, lr, spe, epochs);
    ASSERT_FALSE(s) << text;
    EXPECT_NE(s.status().message().find(fragment), std::string::npos) << s.status().message();
  };
  expect_error("warmup:500,cosine", 0.1, 100, 5,
               "the warmup of 500 steps does not end before the run does (500 steps)");
  expect_error("onecycle", 0.1, 1, 3, "the first phase needs pct_start * total steps > 1");
  expect_error("cosine", 0, 10, 10, "the learning rate must be > 0 (got 0)");
  expect_error("cosine", 0.1, 0, 10, "at least one epoch of one step");
  // A programmatic spec is checked like a parsed one.
  train::ScheduleSpec bad;
  bad.kind = train::ScheduleKind::MultiStep;
  auto s = train::LrSchedule::create(bad, 0.1, 10, 10);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.status().message(), "schedule 'multistep::0.1': needs at least one milestone epoch");
}
