// Varian trajectory logs (`.bin`, versions 2.x to 4.x; written as 3.0): a binary header, the
// sub-beams, then every axis's expected and actual value per snapshot (machine_log.hpp).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/delivery/machine_log.hpp"

namespace linac::delivery {

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

namespace {

/// A trajectory log's bytes, read with their offsets checked: a short file is refused naming
/// the byte and what needed it.
class LogBytes {
 public:
  explicit LogBytes(const std::filesystem::path& path) : name_(path.string()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(name_, "cannot open the trajectory log");
    data_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  [[noreturn]] void fail(const std::string& what) const { throw InputError(name_, what); }
  void need(std::size_t offset, std::size_t bytes, const std::string& what) const {
    if (offset + bytes > data_.size()) {
      fail("truncated at byte " + std::to_string(data_.size()) + ": " + what + " needs bytes " +
           std::to_string(offset) + " to " + std::to_string(offset + bytes));
    }
  }
  [[nodiscard]] std::int32_t i32(std::size_t offset, const std::string& what) const {
    need(offset, 4, what);
    std::int32_t v = 0;
    std::memcpy(&v, data_.data() + offset, 4);
    return v;
  }
  /// Unchecked: the caller has checked the block it lies in.
  [[nodiscard]] double f32(std::size_t offset) const {
    float v = 0.0F;
    std::memcpy(&v, data_.data() + offset, 4);
    return static_cast<double>(v);
  }
  [[nodiscard]] std::string text(std::size_t offset, std::size_t n) const {
    need(offset, n, "text");
    std::string s(data_.data() + offset, n);
    s.resize(std::strlen(s.c_str()));
    return s;
  }
  [[nodiscard]] const std::string& data() const { return data_; }

 private:
  std::string name_;
  std::string data_;
};

/// The header's layout: which axes each snapshot holds, in which columns (samples), and how many
/// sub-beams and snapshots follow.
struct LogLayout {
  double version = 0.0;
  std::vector<std::int32_t> axes;
  std::vector<std::int32_t> samples;  // per axis
  std::vector<std::size_t> column;    // first sample of each axis within a snapshot
  std::size_t per_snapshot = 0;       // samples
  std::int32_t sub_beams = 0;
  std::int32_t snapshots = 0;
  int mlc = -1;  // the (last) MLC axis
  /// The axis's index, or -1 when the log does not have it.
  [[nodiscard]] int find(std::int32_t e) const {
    for (std::size_t k = 0; k < axes.size(); ++k) {
      if (axes[k] == e) return static_cast<int>(k);
    }
    return -1;
  }
};

/// The axis enumeration, the samples of each, and the sub-beam and snapshot counts.
void read_axes(const LogBytes& b, std::int32_t n_axes, LogLayout& L, MachineLog& log) {
  std::size_t off = 44;
  L.axes.resize(static_cast<std::size_t>(n_axes));
  L.samples.resize(static_cast<std::size_t>(n_axes));
  for (auto& a : L.axes) {
    a = b.i32(off, "axis enumeration");
    off += 4;
  }
  for (std::size_t k = 0; k < L.samples.size(); ++k) {
    L.samples[k] = b.i32(off, "samples per axis");
    if (L.samples[k] < 1 || L.samples[k] > 1000) {
      b.fail("byte " + std::to_string(off) + ": " + std::to_string(L.samples[k]) +
             " samples for axis " + std::to_string(L.axes[k]));
    }
    L.column.push_back(L.per_snapshot);
    if (L.axes[k] == kMlc) L.mlc = static_cast<int>(k);
    L.per_snapshot += static_cast<std::size_t>(L.samples[k]);
    off += 4;
  }
  off += 4;  // axis scale
  L.sub_beams = b.i32(off, "number of sub-beams");
  const std::int32_t truncated = b.i32(off + 4, "truncated flag");
  L.snapshots = b.i32(off + 8, "number of snapshots");
  if (L.sub_beams < 0 || L.sub_beams > 1000 || L.snapshots < 0) {
    b.fail("byte " + std::to_string(off) + ": " + std::to_string(L.sub_beams) + " sub-beams, " +
           std::to_string(L.snapshots) + " snapshots");
  }
  log.truncated = truncated != 0;
}

/// Signature, version, header size, sampling interval (into `log`), then the axes.
LogLayout read_header(const LogBytes& b, MachineLog& log) {
  b.need(0, 64, "the header");
  if (b.text(0, 16) != "VOSTL") {
    b.fail("byte 0: signature '" + b.text(0, 16) + "' is not VOSTL (not a trajectory log)");
  }
  LogLayout L;
  log.version = b.text(16, 16);
  try {
    L.version = std::stod(log.version);
  } catch (const std::exception&) {
    b.fail("byte 16: version '" + log.version + "' is not a number");
  }
  if (L.version < 2.0 || L.version >= 5.0) {
    b.fail("byte 16: version " + log.version + " is not supported (2.x to 4.x)");
  }
  const std::int32_t header_size = b.i32(32, "header size");
  if (header_size != static_cast<std::int32_t>(kHeaderBytes)) {
    b.fail("byte 32: header size " + std::to_string(header_size) + ", expected 1024");
  }
  const std::int32_t interval_ms = b.i32(36, "sampling interval");
  const std::int32_t n_axes = b.i32(40, "number of axes");
  if (interval_ms <= 0 || interval_ms > 1000) {
    b.fail("byte 36: sampling interval " + std::to_string(interval_ms) + " ms");
  }
  if (n_axes < 1 || n_axes > 100) b.fail("byte 40: " + std::to_string(n_axes) + " axes");
  log.sample_period_s = interval_ms / 1000.0;
  read_axes(b, n_axes, L, log);
  return L;
}

/// The sub-beams after the header (the first one's MU and name into `log`); returns the offset
/// of the snapshots.
std::size_t read_sub_beams(const LogBytes& b, const LogLayout& L, MachineLog& log) {
  std::size_t off = kHeaderBytes;
  const std::size_t sb = subbeam_bytes(L.version);
  for (std::int32_t k = 0; k < L.sub_beams; ++k) {
    b.need(off, sb, "sub-beam " + std::to_string(k + 1));
    if (k == 0) {
      log.beam_mu = b.f32(off + 4);
      log.beam_name = b.text(off + 16, L.version >= 3.0 ? 512 : 32);
    }
    off += sb;
  }
  return off;
}

/// Snapshot `n` at byte `base`: each axis's expected and actual value, jaws and couch in mm
/// (the log's cm), X1 / Y1 and bank B negative on the IEC axes.
LogSnapshot read_snapshot(const LogBytes& b, const LogLayout& L, std::int32_t n, std::size_t base,
                          double period_s, std::size_t pairs) {
  auto value = [&](int axis, std::size_t sample, bool actual) {
    if (axis < 0) return 0.0;
    return b.f32(base + (L.column[static_cast<std::size_t>(axis)] + sample) * 8 + (actual ? 4 : 0));
  };
  LogSnapshot s;
  s.time_s = n * period_s;
  const int g = L.find(kGantry), c = L.find(kCollimator), mu = L.find(kMu),
            hold = L.find(kBeamHold), cp = L.find(kControlPoint), mlc = L.mlc;
  s.gantry_expected_deg = value(g, 0, false);
  s.gantry_actual_deg = value(g, 0, true);
  s.collimator_expected_deg = value(c, 0, false);
  s.collimator_actual_deg = value(c, 0, true);
  const int jx1 = L.find(kX1), jx2 = L.find(kX2), jy1 = L.find(kY1), jy2 = L.find(kY2);
  s.jaw_expected_mm = {-10.0 * value(jx1, 0, false), 10.0 * value(jx2, 0, false),
                       -10.0 * value(jy1, 0, false), 10.0 * value(jy2, 0, false)};
  s.jaw_actual_mm = {-10.0 * value(jx1, 0, true), 10.0 * value(jx2, 0, true),
                     -10.0 * value(jy1, 0, true), 10.0 * value(jy2, 0, true)};
  const std::int32_t couch[6] = {kCouchVrt, kCouchLng, kCouchLat, kCouchRtn, kCouchPit, kCouchRol};
  for (std::size_t k = 0; k < 6; ++k) {
    const double scale = k < 3 ? 10.0 : 1.0;
    s.couch_expected[k] = scale * value(L.find(couch[k]), 0, false);
    s.couch_actual[k] = scale * value(L.find(couch[k]), 0, true);
  }
  s.mu_expected = value(mu, 0, false);
  s.mu_actual = value(mu, 0, true);
  const double hold_value = value(hold, 0, true);
  const double cp_value = value(cp, 0, true);
  if (!(std::abs(hold_value) <= 1.0e6) || !(std::abs(cp_value) <= 1.0e6)) {
    b.fail("snapshot " + std::to_string(n) + " at byte " + std::to_string(base) +
           ": beam hold or control point out of range");
  }
  s.beam_hold = static_cast<int>(std::lround(hold_value));
  s.beam_on = s.beam_hold == 0;
  s.control_point = static_cast<int>(std::lround(cp_value));
  s.carriage_a_expected_mm = 10.0 * value(mlc, 0, false);
  s.carriage_a_actual_mm = 10.0 * value(mlc, 0, true);
  s.carriage_b_expected_mm = -10.0 * value(mlc, 1, false);
  s.carriage_b_actual_mm = -10.0 * value(mlc, 1, true);
  s.leaf_a_expected_mm.resize(pairs);
  s.leaf_a_actual_mm.resize(pairs);
  s.leaf_b_expected_mm.resize(pairs);
  s.leaf_b_actual_mm.resize(pairs);
  for (std::size_t l = 0; l < pairs; ++l) {
    s.leaf_a_expected_mm[l] = 10.0 * value(mlc, 2 + l, false);
    s.leaf_a_actual_mm[l] = 10.0 * value(mlc, 2 + l, true);
    s.leaf_b_expected_mm[l] = -10.0 * value(mlc, 2 + pairs + l, false);
    s.leaf_b_actual_mm[l] = -10.0 * value(mlc, 2 + pairs + l, true);
  }
  for (double v : {s.gantry_actual_deg, s.mu_actual, s.leaf_a_actual_mm.front()}) {
    if (!std::isfinite(v)) {
      b.fail("snapshot " + std::to_string(n) + " at byte " + std::to_string(base) +
             ": a value is not finite");
    }
  }
  return s;
}

/// The CRC after the snapshots, when present: this product's own logs (version 3.0, nothing
/// after the CRC) are refused when it does not match (the bytes changed after writing).
void check_crc(const LogBytes& b, const MachineLog& log, std::size_t end) {
  const std::string& data = b.data();
  if (data.size() < end + 2) return;
  const auto stored = static_cast<std::uint16_t>(static_cast<unsigned char>(data[end]) |
                                                 (static_cast<unsigned char>(data[end + 1]) << 8));
  const std::uint16_t computed =
      crc16_ccitt(reinterpret_cast<const unsigned char*>(data.data()), end);
  if (stored != computed && log.version == "3.0" && data.size() == end + 2) {
    b.fail("CRC at byte " + std::to_string(end) +
           " does not match the data "
           "(the file is corrupted)");
  }
}

}  // namespace

MachineLog read_trajectory_log(const std::filesystem::path& path) {
  const LogBytes b(path);
  MachineLog log;
  log.format = "trajectory";
  log.files = {path};
  const LogLayout L = read_header(b, log);
  const std::size_t off = read_sub_beams(b, L, log);
  const std::size_t data_bytes = static_cast<std::size_t>(L.snapshots) * L.per_snapshot * 8;
  b.need(
      off, data_bytes,
      std::to_string(L.snapshots) + " snapshots of " + std::to_string(L.per_snapshot) + " samples");
  for (const auto e : {kGantry, kMu, kBeamHold, kMlc}) {
    if (L.find(e) < 0) {
      b.fail("axis " + std::to_string(e) + " (gantry 1, MU 40, beam hold 41, MLC 50) is not in " +
             "the log");
    }
  }
  const int mlc_samples = L.samples[static_cast<std::size_t>(L.mlc)];
  if (mlc_samples < 4 || (mlc_samples - 2) % 2 != 0) {
    b.fail("MLC axis with " + std::to_string(mlc_samples) +
           " samples (2 carriages + 2 banks expected)");
  }
  log.leaf_pairs = (mlc_samples - 2) / 2;
  for (std::int32_t n = 0; n < L.snapshots; ++n) {
    const std::size_t base = off + static_cast<std::size_t>(n) * L.per_snapshot * 8;
    log.snapshots.push_back(read_snapshot(b, L, n, base, log.sample_period_s,
                                          static_cast<std::size_t>(log.leaf_pairs)));
  }
  check_crc(b, log, off + data_bytes);
  const double mu_end = log.snapshots.empty() ? 0.0 : log.snapshots.back().mu_actual;
  if (log.beam_mu <= 0.0) log.beam_mu = mu_end;
  for (auto& s : log.snapshots) s.dose_fraction = log.beam_mu > 0.0 ? s.mu_actual / log.beam_mu : 0;
  return log;
}

}  // namespace linac::delivery
