#include "ops/reduce_einsum.h"

#include <algorithm>
#include <cctype>

namespace condense {

namespace {
constexpr int kLetters = 52;

int letter_id(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}

// One term split into labels; `ellipsis_at` is the position of "..." in the term (-1 if none).
struct Term {
  std::vector<int> letters;
  int ellipsis_at = -1;
};

Result<Term> parse_term(const std::string& s) {
  Term t;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == ' ') {
      ++i;
    } else if (c == '.') {
      if (s.compare(i, 3, "...") != 0 || t.ellipsis_at >= 0)
        return Status::errorf("bad ellipsis in einsum term '{}'", s);
      t.ellipsis_at = static_cast<int>(t.letters.size());
      i += 3;
    } else {
      int id = letter_id(c);
      if (id < 0) return Status::errorf("invalid character '{}' in einsum term '{}'", c, s);
      t.letters.push_back(id);
      ++i;
    }
  }
  return t;
}
}  // namespace

Result<EinsumPlan> plan_einsum(const std::string& equation, const std::vector<Shape>& shapes) {
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq += c;
  std::string lhs = eq, rhs;
  const bool explicit_out = eq.find("->") != std::string::npos;
  if (explicit_out) {
    lhs = eq.substr(0, eq.find("->"));
    rhs = eq.substr(eq.find("->") + 2);
  }
  std::vector<Term> terms;
  size_t start = 0;
  while (true) {
    size_t comma = lhs.find(',', start);
    CONDENSE_ASSIGN_OR_RETURN(Term t, parse_term(lhs.substr(start, comma - start)));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != shapes.size())
    return Status::errorf("einsum equation '{}' has {} operands but the node has {} inputs",
                          equation, terms.size(), shapes.size());
  // Ellipsis rank: the largest number of dims any operand's ellipsis covers.
  int64_t ell_rank = 0;
  for (size_t k = 0; k < terms.size(); ++k) {
    const int64_t rank = static_cast<int64_t>(shapes[k].size());
    const int64_t named = static_cast<int64_t>(terms[k].letters.size());
    if (terms[k].ellipsis_at < 0 ? rank != named : rank < named)
      return Status::errorf("einsum term {} has {} labels but the operand has rank {}", k, named,
                            rank);
    if (terms[k].ellipsis_at >= 0) ell_rank = std::max(ell_rank, rank - named);
  }
  EinsumPlan plan;
  plan.num_labels = kLetters + static_cast<int>(ell_rank);
  plan.label_size.assign(plan.num_labels, -1);
  std::vector<int> count(plan.num_labels, 0);
  for (size_t k = 0; k < terms.size(); ++k) {
    const Term& t = terms[k];
    const Shape& s = shapes[k];
    std::vector<int> labels;
    const int64_t covered = static_cast<int64_t>(s.size()) - static_cast<int64_t>(t.letters.size());
    for (size_t i = 0; i <= t.letters.size(); ++i) {
      if (static_cast<int>(i) == t.ellipsis_at)
        for (int64_t e = 0; e < covered; ++e)
          labels.push_back(kLetters + static_cast<int>(ell_rank - covered + e));
      if (i < t.letters.size()) labels.push_back(t.letters[i]);
    }
    for (size_t d = 0; d < labels.size(); ++d) {
      const int l = labels[d];
      ++count[l];
      int64_t& size = plan.label_size[l];
      if (size < 0 || (l >= kLetters && size == 1)) {
        size = s[d];
      } else if (s[d] != size && !(l >= kLetters && s[d] == 1)) {
        return Status::errorf("einsum label size mismatch: {} vs {} on operand {}", size, s[d], k);
      }
    }
    plan.operand_labels.push_back(std::move(labels));
  }
  if (explicit_out) {
    CONDENSE_ASSIGN_OR_RETURN(Term out, parse_term(rhs));
    std::vector<bool> seen(plan.num_labels, false);
    for (size_t i = 0; i <= out.letters.size(); ++i) {
      if (static_cast<int>(i) == out.ellipsis_at)
        for (int64_t e = 0; e < ell_rank; ++e)
          plan.output_labels.push_back(kLetters + static_cast<int>(e));
      if (i < out.letters.size()) {
        const int l = out.letters[i];
        if (count[l] == 0)
          return Status::errorf("einsum output label '{}' is not in any input", rhs);
        if (seen[l]) return Status::errorf("einsum output '{}' repeats a label", rhs);
        seen[l] = true;
        plan.output_labels.push_back(l);
      }
    }
    if (out.ellipsis_at < 0 && ell_rank > 0) {
      // numpy allows dropping the ellipsis only when it covers nothing but size-1 dims: summing
      // them is then a no-op; we accept that and sum them like any other dropped label.
    }
  } else {
    // Implicit output: ellipsis dims first, then letters that appear exactly once, sorted
    // alphabetically (uppercase before lowercase, as in ASCII).
    for (int64_t e = 0; e < ell_rank; ++e)
      plan.output_labels.push_back(kLetters + static_cast<int>(e));
    std::vector<int> once;
    for (int l = 0; l < kLetters; ++l)
      if (count[l] == 1) once.push_back(l);
    std::sort(once.begin(), once.end(), [](int a, int b) {
      auto ascii = [](int l) { return l < 26 ? 'a' + l : 'A' + (l - 26); };
      return ascii(a) < ascii(b);
    });
    plan.output_labels.insert(plan.output_labels.end(), once.begin(), once.end());
  }
  for (int l = 0; l < plan.num_labels; ++l)
    if (plan.label_size[l] < 0) plan.label_size[l] = 1;  // ellipsis dim no operand has
  return plan;
}

}  // namespace condense
