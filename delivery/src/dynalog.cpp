// Varian Clinac Dynalogs (revision B): a pair of text files, one per MLC bank, a snapshot every
// 50 ms (machine_log.hpp).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string_view>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/beam_path.hpp"
#include "linac/delivery/machine_log.hpp"

namespace linac::delivery {

namespace {

constexpr double kDynalogPeriodS = 0.05;
constexpr double kDoseIndexScale = 25000.0;
// Leaf positions in Dynalogs are at the MLC plane, in 0.01 mm; isocentre = MLC plane x this.
constexpr double kMlcPlaneMagnification = 1.96614;

long to_int(double v) {
  return std::lround(v);
}
long leaf_units(double iso_mm) {
  return std::lround(iso_mm * 100.0 / kMlcPlaneMagnification);
}
double leaf_mm(double units) {
  return units * kMlcPlaneMagnification / 100.0;
}

std::string dynalog_text(const MachineLog& log, bool bank_a) {
  std::ostringstream o;
  o << "B\n";
  o << log.patient_name << "," << log.patient_name << "," << log.patient_id << "\n";
  o << log.plan << "\n";
  o << log.mlc_tolerance << "\n";
  o << log.leaf_pairs << "\n";
  o << 1 << "\n";  // IEC 61217 scale
  const auto pairs = static_cast<std::size_t>(log.leaf_pairs);
  const auto& cps = log.control_points;
  double next_t = 0.0;
  for (const LogSnapshot& s : log.snapshots) {
    if (s.time_s + 1e-9 < next_t) continue;
    next_t = (std::floor(s.time_s / kDynalogPeriodS + 1e-6) + 1.0) * kDynalogPeriodS;
    const auto cp = static_cast<std::size_t>(std::max(0, s.control_point));
    const ControlPoint* prev = cp < cps.size() ? &cps[cp] : nullptr;
    const ControlPoint* next = cp + 1 < cps.size() ? &cps[cp + 1] : prev;
    const double w_prev = prev ? prev->cumulative_meterset_weight : s.dose_fraction;
    const double w_next = next ? next->cumulative_meterset_weight : s.dose_fraction;
    // Varian's convention: bank B and the X1/Y1 jaws are positive when open.
    o << to_int(s.dose_fraction * kDoseIndexScale) << ',' << s.control_point << ','
      << (s.beam_on ? (s.beam_hold != 0 ? 1 : 0) : 1) << ',' << (s.beam_on ? 1 : 0) << ','
      << to_int(w_prev * kDoseIndexScale) << ',' << to_int(w_next * kDoseIndexScale) << ','
      << to_int(s.gantry_actual_deg * 10.0) << ',' << to_int(s.collimator_actual_deg * 10.0) << ','
      << to_int(-s.jaw_actual_mm[2]) << ',' << to_int(s.jaw_actual_mm[3]) << ','
      << to_int(-s.jaw_actual_mm[0]) << ',' << to_int(s.jaw_actual_mm[1]) << ',';
    if (bank_a) {
      o << to_int(s.carriage_a_expected_mm * 100.0) << ','
        << to_int(s.carriage_a_actual_mm * 100.0);
    } else {
      o << to_int(-s.carriage_b_expected_mm * 100.0) << ','
        << to_int(-s.carriage_b_actual_mm * 100.0);
    }
    for (std::size_t l = 0; l < pairs; ++l) {
      const double sign = bank_a ? 1.0 : -1.0;
      const auto& exp = bank_a ? s.leaf_a_expected_mm : s.leaf_b_expected_mm;
      const auto& act = bank_a ? s.leaf_a_actual_mm : s.leaf_b_actual_mm;
      const auto planned = [&](const ControlPoint* c) {
        if (c == nullptr) return exp[l];
        const auto& v = bank_a ? c->leaf_a_mm : c->leaf_b_mm;
        return l < v.size() ? v[l] : exp[l];
      };
      o << ',' << leaf_units(sign * exp[l]) << ',' << leaf_units(sign * act[l]) << ','
        << leaf_units(sign * planned(prev)) << ',' << leaf_units(sign * planned(next));
    }
    o << '\n';
  }
  return o.str();
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream is(line);
  while (std::getline(is, cur, ',')) {
    while (!cur.empty() && (cur.back() == '\r' || cur.back() == ' ')) cur.pop_back();
    std::size_t b = 0;
    while (b < cur.size() && cur[b] == ' ') ++b;
    out.push_back(cur.substr(b));
  }
  return out;
}

double parse_field(const std::string& file, int line, std::size_t field, std::string_view text) {
  double v = 0.0;
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, v);
  if (text.empty() || r.ec != std::errc() || r.ptr != end || !std::isfinite(v)) {
    throw InputError(file, "line " + std::to_string(line) + ", field " + std::to_string(field) +
                               ": '" + std::string(text) + "' is not a number");
  }
  return v;
}

// A field that must be an integer of sensible size (counts, indices, flags, codes).
int int_field(const std::string& file, int line, std::size_t field, double v) {
  if (!(std::abs(v) <= 1.0e9) || v != std::floor(v)) {
    throw InputError(file, "line " + std::to_string(line) + ", field " + std::to_string(field) +
                               ": " + format_number(v) + " is not an integer in range");
  }
  return static_cast<int>(v);
}

struct DynalogFile {
  std::string revision, patient, plan;
  int tolerance = 0, pairs = 0, scale = 0;
  std::vector<std::vector<double>> rows;
};

DynalogFile parse_dynalog_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path);
  if (!in) throw InputError(name, "cannot open the Dynalog file");
  DynalogFile f;
  std::string line;
  std::vector<std::string> header;
  for (int i = 0; i < 6; ++i) {
    if (!std::getline(in, line)) {
      throw InputError(name, "truncated header: line " + std::to_string(i + 1) +
                                 " missing (a Dynalog header has 6 lines)");
    }
    while (!line.empty() && line.back() == '\r') line.pop_back();
    header.push_back(line);
  }
  f.revision = header[0].substr(0, header[0].find(','));
  if (f.revision != "B") {
    throw InputError(name, "line 1: revision '" + f.revision +
                               "' is not supported (expected B, the Dynalog revision written by "
                               "Clinac MLC controllers)");
  }
  f.patient = header[1];
  f.plan = header[2];
  const auto tolerance_field = split_csv(header[3]);
  f.tolerance = int_field(
      name, 4, 0, parse_field(name, 4, 0, tolerance_field.empty() ? "" : tolerance_field[0]));
  const auto pairs_field = split_csv(header[4]);
  f.pairs =
      int_field(name, 5, 0, parse_field(name, 5, 0, pairs_field.empty() ? "" : pairs_field[0]));
  if (f.pairs < 1 || f.pairs > 80) {
    throw InputError(name, "line 5: " + std::to_string(f.pairs) +
                               " leaves per bank is not a valid MLC (1 to 80)");
  }
  const auto scale_field = split_csv(header[5]);
  f.scale =
      int_field(name, 6, 0, parse_field(name, 6, 0, scale_field.empty() ? "" : scale_field[0]));
  const std::size_t want = 14 + 4 * static_cast<std::size_t>(f.pairs);
  int n = 6;
  while (std::getline(in, line)) {
    ++n;
    while (!line.empty() && (line.back() == '\r' || line.back() == ',')) line.pop_back();
    if (line.empty()) continue;
    // The fields parsed in place (a VMAT Dynalog is ~1,500 lines of 254 fields).
    std::vector<double> row;
    row.reserve(want);
    std::string_view rest(line);
    std::size_t count = 0;
    while (true) {
      const std::size_t comma = rest.find(',');
      std::string_view field = rest.substr(0, comma);
      while (!field.empty() && (field.front() == ' ')) field.remove_prefix(1);
      while (!field.empty() && (field.back() == ' ' || field.back() == '\r'))
        field.remove_suffix(1);
      if (count < want) row.push_back(parse_field(name, n, count, field));
      ++count;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (count < want) {
      throw InputError(name, "line " + std::to_string(n) + ": " + std::to_string(count) +
                                 " fields, expected " + std::to_string(want) +
                                 " (14 + 4 per leaf); the file is truncated or not a Dynalog");
    }
    f.rows.push_back(std::move(row));
  }
  if (f.rows.empty()) throw InputError(name, "no snapshots after the header");
  return f;
}

}  // namespace

std::vector<std::filesystem::path> write_dynalog(const MachineLog& log,
                                                 const std::filesystem::path& dir,
                                                 const std::string& stem) {
  const auto a = dir / ("A" + stem + ".dlg");
  const auto b = dir / ("B" + stem + ".dlg");
  const std::string ta = dynalog_text(log, true);
  const std::string tb = dynalog_text(log, false);
  write_file_atomically(a, {ta});
  write_file_atomically(b, {tb});
  return {a, b};
}

MachineLog read_dynalog(const std::filesystem::path& path) {
  const std::string fname = path.filename().string();
  if (fname.empty() || (fname[0] != 'A' && fname[0] != 'B' && fname[0] != 'a' && fname[0] != 'b')) {
    throw InputError(path.string(), "a Dynalog file name starts with A or B (its bank)");
  }
  const char partner_letter = (fname[0] == 'A' || fname[0] == 'a') ? 'B' : 'A';
  const auto partner = path.parent_path() / (std::string(1, partner_letter) + fname.substr(1));
  if (!std::filesystem::exists(partner)) {
    throw InputError(path.string(),
                     "its partner file " + partner.string() + " (the other bank) is missing");
  }
  const bool this_is_a = partner_letter == 'B';
  const DynalogFile fa = parse_dynalog_file(this_is_a ? path : partner);
  const DynalogFile fb = parse_dynalog_file(this_is_a ? partner : path);
  if (fa.pairs != fb.pairs || fa.rows.size() != fb.rows.size()) {
    throw InputError((this_is_a ? partner : path).string(),
                     "bank B has " + std::to_string(fb.rows.size()) + " snapshots of " +
                         std::to_string(fb.pairs) + " leaves, bank A " +
                         std::to_string(fa.rows.size()) + " of " + std::to_string(fa.pairs));
  }
  MachineLog log;
  log.format = "dynalog";
  log.files = {this_is_a ? path : partner, this_is_a ? partner : path};
  log.version = fa.revision;
  const auto pf = split_csv(fa.patient);
  log.patient_name = pf.empty() ? "" : pf[0];
  log.patient_id = pf.size() >= 3 ? pf[2] : "";
  log.plan = fa.plan;
  log.mlc_tolerance = fa.tolerance;
  log.leaf_pairs = fa.pairs;
  log.sample_period_s = kDynalogPeriodS;
  const bool iec = fa.scale == 1;
  const auto pairs = static_cast<std::size_t>(fa.pairs);
  for (std::size_t r = 0; r < fa.rows.size(); ++r) {
    const auto& a = fa.rows[r];
    const auto& b = fb.rows[r];
    LogSnapshot s;
    s.time_s = static_cast<double>(r) * kDynalogPeriodS;
    s.dose_fraction = a[0] / kDoseIndexScale;
    const std::string fa_name = log.files.front().string();
    s.control_point = int_field(fa_name, static_cast<int>(r) + 7, 1, a[1]);
    s.beam_hold = int_field(fa_name, static_cast<int>(r) + 7, 2, a[2]);
    s.beam_on = a[3] != 0.0;
    // Varian scale: gantry 180 at the top; IEC 61217: 0 at the top.
    const double g = a[6] / 10.0;
    const double c = a[7] / 10.0;
    s.gantry_actual_deg = iec ? g : iec_angle_deg(180.0 - g);
    s.gantry_expected_deg = s.gantry_actual_deg;
    s.collimator_actual_deg = iec ? c : iec_angle_deg(180.0 - c);
    s.collimator_expected_deg = s.collimator_actual_deg;
    s.jaw_actual_mm = {-a[10], a[11], -a[8], a[9]};
    s.jaw_expected_mm = s.jaw_actual_mm;
    s.carriage_a_expected_mm = a[12] / 100.0;
    s.carriage_a_actual_mm = a[13] / 100.0;
    s.carriage_b_expected_mm = -b[12] / 100.0;
    s.carriage_b_actual_mm = -b[13] / 100.0;
    s.leaf_a_expected_mm.resize(pairs);
    s.leaf_a_actual_mm.resize(pairs);
    s.leaf_b_expected_mm.resize(pairs);
    s.leaf_b_actual_mm.resize(pairs);
    for (std::size_t l = 0; l < pairs; ++l) {
      s.leaf_a_expected_mm[l] = leaf_mm(a[14 + 4 * l]);
      s.leaf_a_actual_mm[l] = leaf_mm(a[15 + 4 * l]);
      s.leaf_b_expected_mm[l] = -leaf_mm(b[14 + 4 * l]);
      s.leaf_b_actual_mm[l] = -leaf_mm(b[15 + 4 * l]);
    }
    log.snapshots.push_back(std::move(s));
  }
  return log;
}

}  // namespace linac::delivery
