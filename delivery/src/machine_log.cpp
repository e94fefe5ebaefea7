#include "linac/delivery/machine_log.hpp"

#include <algorithm>
#include <bit>
#include <boost/crc.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/beam_path.hpp"

namespace linac::delivery {

namespace {

constexpr double kDynalogPeriodS = 0.05;
constexpr double kDoseIndexScale = 25000.0;
// Leaf positions in Dynalogs are at the MLC plane, in 0.01 mm; isocentre = MLC plane x this.
constexpr double kMlcPlaneMagnification = 1.96614;

}  // namespace

std::uint16_t crc16_ccitt(const unsigned char* data, std::size_t size) {
  // CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), table-driven by Boost.CRC.
  boost::crc_ccitt_type crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

MachineLog log_from_delivery(const BeamOutcome& outcome, const Beam& beam,
                             const std::string& patient_id, const std::string& plan_label,
                             double mlc_tolerance_mm, double cycle_s) {
  MachineLog log;
  log.format = "trajectory";
  log.patient_id = patient_id;
  log.patient_name = patient_id;
  log.plan = plan_label + "," + std::to_string(beam.number);
  log.beam_name = beam.name;
  log.beam_mu = beam.meterset_mu;
  log.sample_period_s = cycle_s;
  log.mlc_tolerance = static_cast<int>(std::lround(mlc_tolerance_mm * 100.0));
  log.version = "3.0";
  log.control_points = beam.control_points;
  const double mu = beam.meterset_mu > 0.0 ? beam.meterset_mu : 1.0;
  for (const CycleSample& c : outcome.samples) {
    LogSnapshot s;
    s.time_s = c.time_s;
    s.mu_actual = c.primary_mu;
    s.mu_expected = c.primary_mu;
    s.dose_fraction = c.primary_mu / mu;
    s.control_point = c.expected.control_point;
    s.beam_on = c.beam_on;
    s.beam_hold = c.hold ? 2 : 0;
    s.gantry_expected_deg = iec_angle_deg(c.expected.gantry_deg);
    s.gantry_actual_deg = iec_angle_deg(c.actual.gantry_deg);
    s.collimator_expected_deg = iec_angle_deg(c.expected.collimator_deg);
    s.collimator_actual_deg = iec_angle_deg(c.actual.collimator_deg);
    s.jaw_expected_mm = {c.expected.jaw_x1_mm, c.expected.jaw_x2_mm, c.expected.jaw_y1_mm,
                         c.expected.jaw_y2_mm};
    s.jaw_actual_mm = {c.actual.jaw_x1_mm, c.actual.jaw_x2_mm, c.actual.jaw_y1_mm,
                       c.actual.jaw_y2_mm};
    s.leaf_a_expected_mm = c.expected.leaf_a_mm;
    s.leaf_a_actual_mm = c.actual.leaf_a_mm;
    s.leaf_b_expected_mm = c.expected.leaf_b_mm;
    s.leaf_b_actual_mm = c.actual.leaf_b_mm;
    auto carriage = [](const std::vector<double>& v) {
      if (v.empty()) return 0.0;
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      return 0.5 * (*lo + *hi);
    };
    s.carriage_a_expected_mm = carriage(c.expected.leaf_a_mm);
    s.carriage_b_expected_mm = carriage(c.expected.leaf_b_mm);
    s.carriage_a_actual_mm = c.carriage_a_mm;
    s.carriage_b_actual_mm = c.carriage_b_mm;
    s.couch_actual = {c.couch.vertical_mm,  c.couch.longitudinal_mm, c.couch.lateral_mm,
                      c.couch.rotation_deg, c.couch.pitch_deg,       c.couch.roll_deg};
    s.couch_expected = s.couch_actual;
    log.snapshots.push_back(std::move(s));
  }
  log.leaf_pairs =
      log.snapshots.empty()
          ? static_cast<int>(beam.control_points.empty() ? 0
                                                         : beam.control_points[0].leaf_a_mm.size())
          : static_cast<int>(log.snapshots[0].leaf_a_expected_mm.size());
  return log;
}

// --- Dynalog ------------------------------------------------------------------------------------

namespace {

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

// --- Trajectory log -----------------------------------------------------------------------------

namespace {

enum AxisEnum : std::int32_t {
  kCollimator = 0,
  kGantry = 1,
  kY1 = 2,
  kY2 = 3,
  kX1 = 4,
  kX2 = 5,
  kCouchVrt = 6,
  kCouchLng = 7,
  kCouchLat = 8,
  kCouchRtn = 9,
  kCouchPit = 10,
  kCouchRol = 11,
  kMu = 40,
  kBeamHold = 41,
  kControlPoint = 42,
  kMlc = 50,
};

constexpr std::size_t kHeaderBytes = 1024;

void put_i32(std::string& out, std::int32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian hosts only (checked at compile time below)
  out.append(b, 4);
}
void put_f32(std::string& out, double v) {
  const auto f = static_cast<float>(v);
  char b[4];
  std::memcpy(b, &f, 4);
  out.append(b, 4);
}
void put_text(std::string& out, const std::string& s, std::size_t n) {
  std::string t = s.substr(0, n);
  t.resize(n, '\0');
  out += t;
}
static_assert(std::endian::native == std::endian::little, "trajectory logs are little-endian");

std::size_t subbeam_bytes(double version) {
  return version >= 3.0 ? 560 : 80;
}

}  // namespace

void write_trajectory_log(const MachineLog& log, const std::filesystem::path& path) {
  const std::vector<std::int32_t> axes = {
      kCollimator, kGantry,   kY1,       kY2,       kX1, kX2,       kCouchVrt,     kCouchLng,
      kCouchLat,   kCouchRtn, kCouchPit, kCouchRol, kMu, kBeamHold, kControlPoint, kMlc};
  const int pairs = log.leaf_pairs;
  std::string out;
  put_text(out, "VOSTL", 16);
  put_text(out, "3.0", 16);
  put_i32(out, static_cast<std::int32_t>(kHeaderBytes));
  put_i32(out, static_cast<std::int32_t>(std::lround(log.sample_period_s * 1000.0)));
  put_i32(out, static_cast<std::int32_t>(axes.size()));
  for (const auto a : axes) put_i32(out, a);
  for (const auto a : axes) put_i32(out, a == kMlc ? 2 * pairs + 2 : 1);
  put_i32(out, 2);  // modified IEC 61217
  put_i32(out, 1);  // one sub-beam
  put_i32(out, log.truncated ? 1 : 0);
  put_i32(out, static_cast<std::int32_t>(log.snapshots.size()));
  put_i32(out, 2);  // Millennium 120
  out.resize(kHeaderBytes, '\0');
  // Sub-beam: control point, MU, radiation time, sequence number, name, reserved.
  double mu = 0.0;
  double rad_s = 0.0;
  for (const auto& s : log.snapshots) {
    mu = std::max(mu, s.mu_actual);
    if (s.delivering()) rad_s += log.sample_period_s;
  }
  put_i32(out, 0);
  put_f32(out, mu);
  put_f32(out, rad_s);
  put_i32(out, 1);
  put_text(out, log.beam_name, 512);
  put_text(out, "", 32);
  for (const auto& s : log.snapshots) {
    auto pair = [&](double e, double a) {
      put_f32(out, e);
      put_f32(out, a);
    };
    pair(s.collimator_expected_deg, s.collimator_actual_deg);
    pair(s.gantry_expected_deg, s.gantry_actual_deg);
    // Jaws and couch in cm; X1/Y1 positive when open.
    pair(-s.jaw_expected_mm[2] / 10.0, -s.jaw_actual_mm[2] / 10.0);
    pair(s.jaw_expected_mm[3] / 10.0, s.jaw_actual_mm[3] / 10.0);
    pair(-s.jaw_expected_mm[0] / 10.0, -s.jaw_actual_mm[0] / 10.0);
    pair(s.jaw_expected_mm[1] / 10.0, s.jaw_actual_mm[1] / 10.0);
    for (int k = 0; k < 6; ++k) {
      const double scale = k < 3 ? 0.1 : 1.0;
      pair(s.couch_expected[static_cast<std::size_t>(k)] * scale,
           s.couch_actual[static_cast<std::size_t>(k)] * scale);
    }
    pair(s.mu_expected, s.mu_actual);
    const double hold = s.beam_on ? s.beam_hold : 2.0;
    pair(hold, hold);
    pair(s.control_point, s.control_point);
    pair(s.carriage_a_expected_mm / 10.0, s.carriage_a_actual_mm / 10.0);
    pair(-s.carriage_b_expected_mm / 10.0, -s.carriage_b_actual_mm / 10.0);
    for (int l = 0; l < pairs; ++l) {
      const auto i = static_cast<std::size_t>(l);
      pair(s.leaf_a_expected_mm[i] / 10.0, s.leaf_a_actual_mm[i] / 10.0);
    }
    for (int l = 0; l < pairs; ++l) {
      const auto i = static_cast<std::size_t>(l);
      pair(-s.leaf_b_expected_mm[i] / 10.0, -s.leaf_b_actual_mm[i] / 10.0);
    }
  }
  const std::uint16_t crc =
      crc16_ccitt(reinterpret_cast<const unsigned char*>(out.data()), out.size());
  out.push_back(static_cast<char>(crc & 0xFF));
  out.push_back(static_cast<char>(crc >> 8));
  write_file_atomically(path, {out});
}

MachineLog read_trajectory_log(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(name, "cannot open the trajectory log");
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto need = [&](std::size_t offset, std::size_t bytes, const std::string& what) {
    if (offset + bytes > data.size()) {
      throw InputError(name, "truncated at byte " + std::to_string(data.size()) + ": " + what +
                                 " needs bytes " + std::to_string(offset) + " to " +
                                 std::to_string(offset + bytes));
    }
  };
  auto i32 = [&](std::size_t offset, const std::string& what) {
    need(offset, 4, what);
    std::int32_t v = 0;
    std::memcpy(&v, data.data() + offset, 4);
    return v;
  };
  auto f32 = [&](std::size_t offset) {
    float v = 0.0F;
    std::memcpy(&v, data.data() + offset, 4);
    return static_cast<double>(v);
  };
  auto text = [&](std::size_t offset, std::size_t n) {
    need(offset, n, "text");
    std::string s(data.data() + offset, n);
    s.resize(std::strlen(s.c_str()));
    return s;
  };
  need(0, 64, "the header");
  if (text(0, 16) != "VOSTL") {
    throw InputError(name,
                     "byte 0: signature '" + text(0, 16) + "' is not VOSTL (not a trajectory log)");
  }
  MachineLog log;
  log.format = "trajectory";
  log.files = {path};
  log.version = text(16, 16);
  double version = 0.0;
  try {
    version = std::stod(log.version);
  } catch (const std::exception&) {
    throw InputError(name, "byte 16: version '" + log.version + "' is not a number");
  }
  if (version < 2.0 || version >= 5.0) {
    throw InputError(name, "byte 16: version " + log.version + " is not supported (2.x to 4.x)");
  }
  const std::int32_t header_size = i32(32, "header size");
  if (header_size != static_cast<std::int32_t>(kHeaderBytes)) {
    throw InputError(name,
                     "byte 32: header size " + std::to_string(header_size) + ", expected 1024");
  }
  const std::int32_t interval_ms = i32(36, "sampling interval");
  const std::int32_t n_axes = i32(40, "number of axes");
  if (interval_ms <= 0 || interval_ms > 1000) {
    throw InputError(name, "byte 36: sampling interval " + std::to_string(interval_ms) + " ms");
  }
  if (n_axes < 1 || n_axes > 100) {
    throw InputError(name, "byte 40: " + std::to_string(n_axes) + " axes");
  }
  std::size_t off = 44;
  std::vector<std::int32_t> axes(static_cast<std::size_t>(n_axes));
  std::vector<std::int32_t> samples(static_cast<std::size_t>(n_axes));
  for (auto& a : axes) {
    a = i32(off, "axis enumeration");
    off += 4;
  }
  std::size_t per_snapshot = 0;
  for (std::size_t k = 0; k < samples.size(); ++k) {
    samples[k] = i32(off, "samples per axis");
    if (samples[k] < 1 || samples[k] > 1000) {
      throw InputError(name, "byte " + std::to_string(off) + ": " + std::to_string(samples[k]) +
                                 " samples for axis " + std::to_string(axes[k]));
    }
    per_snapshot += static_cast<std::size_t>(samples[k]);
    off += 4;
  }
  off += 4;  // axis scale
  const std::int32_t n_sub = i32(off, "number of sub-beams");
  const std::int32_t truncated = i32(off + 4, "truncated flag");
  const std::int32_t n_snap = i32(off + 8, "number of snapshots");
  if (n_sub < 0 || n_sub > 1000 || n_snap < 0) {
    throw InputError(name, "byte " + std::to_string(off) + ": " + std::to_string(n_sub) +
                               " sub-beams, " + std::to_string(n_snap) + " snapshots");
  }
  log.truncated = truncated != 0;
  log.sample_period_s = interval_ms / 1000.0;
  off = kHeaderBytes;
  const std::size_t sb = subbeam_bytes(version);
  for (std::int32_t k = 0; k < n_sub; ++k) {
    need(off, sb, "sub-beam " + std::to_string(k + 1));
    if (k == 0) {
      log.beam_mu = f32(off + 4);
      log.beam_name = text(off + 16, version >= 3.0 ? 512 : 32);
    }
    off += sb;
  }
  const std::size_t data_bytes = static_cast<std::size_t>(n_snap) * per_snapshot * 8;
  need(off, data_bytes,
       std::to_string(n_snap) + " snapshots of " + std::to_string(per_snapshot) + " samples");
  // Column offsets (in samples) of each axis within a snapshot.
  std::vector<std::size_t> column(axes.size());
  std::size_t col = 0;
  int mlc_axis = -1;
  for (std::size_t k = 0; k < axes.size(); ++k) {
    column[k] = col;
    col += static_cast<std::size_t>(samples[k]);
    if (axes[k] == kMlc) mlc_axis = static_cast<int>(k);
  }
  auto find = [&](std::int32_t e) -> int {
    for (std::size_t k = 0; k < axes.size(); ++k) {
      if (axes[k] == e) return static_cast<int>(k);
    }
    return -1;
  };
  for (const auto e : {kGantry, kMu, kBeamHold, kMlc}) {
    if (find(e) < 0) {
      throw InputError(name, "axis " + std::to_string(e) +
                                 " (gantry 1, MU 40, beam hold 41, MLC "
                                 "50) is not in the log");
    }
  }
  const int mlc_samples = samples[static_cast<std::size_t>(mlc_axis)];
  if (mlc_samples < 4 || (mlc_samples - 2) % 2 != 0) {
    throw InputError(name, "MLC axis with " + std::to_string(mlc_samples) +
                               " samples (2 carriages + 2 banks expected)");
  }
  log.leaf_pairs = (mlc_samples - 2) / 2;
  const auto pairs = static_cast<std::size_t>(log.leaf_pairs);
  for (std::int32_t n = 0; n < n_snap; ++n) {
    const std::size_t base = off + static_cast<std::size_t>(n) * per_snapshot * 8;
    auto value = [&](int axis, std::size_t sample, bool actual) {
      if (axis < 0) return 0.0;
      return f32(base + (column[static_cast<std::size_t>(axis)] + sample) * 8 + (actual ? 4 : 0));
    };
    LogSnapshot s;
    s.time_s = n * log.sample_period_s;
    const int g = find(kGantry), c = find(kCollimator), mu = find(kMu), hold = find(kBeamHold),
              cp = find(kControlPoint);
    s.gantry_expected_deg = value(g, 0, false);
    s.gantry_actual_deg = value(g, 0, true);
    s.collimator_expected_deg = value(c, 0, false);
    s.collimator_actual_deg = value(c, 0, true);
    const int jx1 = find(kX1), jx2 = find(kX2), jy1 = find(kY1), jy2 = find(kY2);
    s.jaw_expected_mm = {-10.0 * value(jx1, 0, false), 10.0 * value(jx2, 0, false),
                         -10.0 * value(jy1, 0, false), 10.0 * value(jy2, 0, false)};
    s.jaw_actual_mm = {-10.0 * value(jx1, 0, true), 10.0 * value(jx2, 0, true),
                       -10.0 * value(jy1, 0, true), 10.0 * value(jy2, 0, true)};
    const std::int32_t couch[6] = {kCouchVrt, kCouchLng, kCouchLat,
                                   kCouchRtn, kCouchPit, kCouchRol};
    for (std::size_t k = 0; k < 6; ++k) {
      const double scale = k < 3 ? 10.0 : 1.0;
      s.couch_expected[k] = scale * value(find(couch[k]), 0, false);
      s.couch_actual[k] = scale * value(find(couch[k]), 0, true);
    }
    s.mu_expected = value(mu, 0, false);
    s.mu_actual = value(mu, 0, true);
    const double hold_value = value(hold, 0, true);
    const double cp_value = value(cp, 0, true);
    if (!(std::abs(hold_value) <= 1.0e6) || !(std::abs(cp_value) <= 1.0e6)) {
      throw InputError(name, "snapshot " + std::to_string(n) + " at byte " + std::to_string(base) +
                                 ": beam hold or control point out of range");
    }
    s.beam_hold = static_cast<int>(std::lround(hold_value));
    s.beam_on = s.beam_hold == 0;
    s.control_point = static_cast<int>(std::lround(cp_value));
    s.carriage_a_expected_mm = 10.0 * value(mlc_axis, 0, false);
    s.carriage_a_actual_mm = 10.0 * value(mlc_axis, 0, true);
    s.carriage_b_expected_mm = -10.0 * value(mlc_axis, 1, false);
    s.carriage_b_actual_mm = -10.0 * value(mlc_axis, 1, true);
    s.leaf_a_expected_mm.resize(pairs);
    s.leaf_a_actual_mm.resize(pairs);
    s.leaf_b_expected_mm.resize(pairs);
    s.leaf_b_actual_mm.resize(pairs);
    for (std::size_t l = 0; l < pairs; ++l) {
      s.leaf_a_expected_mm[l] = 10.0 * value(mlc_axis, 2 + l, false);
      s.leaf_a_actual_mm[l] = 10.0 * value(mlc_axis, 2 + l, true);
      s.leaf_b_expected_mm[l] = -10.0 * value(mlc_axis, 2 + pairs + l, false);
      s.leaf_b_actual_mm[l] = -10.0 * value(mlc_axis, 2 + pairs + l, true);
    }
    for (double v : {s.gantry_actual_deg, s.mu_actual, s.leaf_a_actual_mm.front()}) {
      if (!std::isfinite(v)) {
        throw InputError(name, "snapshot " + std::to_string(n) + " at byte " +
                                   std::to_string(base) + ": a value is not finite");
      }
    }
    log.snapshots.push_back(std::move(s));
  }
  const std::size_t end = off + data_bytes;
  if (data.size() >= end + 2) {
    const auto stored = static_cast<std::uint16_t>(
        static_cast<unsigned char>(data[end]) | (static_cast<unsigned char>(data[end + 1]) << 8));
    const std::uint16_t computed =
        crc16_ccitt(reinterpret_cast<const unsigned char*>(data.data()), end);
    if (stored != computed && log.version == "3.0" && data.size() == end + 2) {
      // Our own writer's CRC: a mismatch means the bytes changed after writing.
      throw InputError(name, "CRC at byte " + std::to_string(end) +
                                 " does not match the data "
                                 "(the file is corrupted)");
    }
  }
  const double mu_end = log.snapshots.empty() ? 0.0 : log.snapshots.back().mu_actual;
  if (log.beam_mu <= 0.0) log.beam_mu = mu_end;
  for (auto& s : log.snapshots) s.dose_fraction = log.beam_mu > 0.0 ? s.mu_actual / log.beam_mu : 0;
  return log;
}

MachineLog read_machine_log(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (ext == ".dlg") return read_dynalog(path);
  if (ext == ".bin") return read_trajectory_log(path);
  throw InputError(path.string(), "not a machine log (.dlg Dynalog or .bin trajectory log)");
}

}  // namespace linac::delivery
