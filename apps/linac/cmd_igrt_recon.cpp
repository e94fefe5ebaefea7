// `linac igrt recon DIR`: a cone-beam CT reconstructed (FDK) from a projection set another tool
// wrote: plastimatch `drr` projections (.raw or .pfm, each with its .txt projection matrix) or a
// Varian OBI scan's .hnd files.
#include <malloc.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <optional>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/text.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/formats/projection_files.hpp"
#include "linac/igrt/fdk.hpp"
#include "linac/igrt/projection_geometry.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

namespace {

/// The grid plastimatch's fdk makes of `-r` and `-z`: `size` voxels over `extent_mm`, centred on
/// the isocentre (voxel centres half a voxel inside the extent).
Grid centred_grid(const std::vector<double>& size, const std::vector<double>& extent_mm) {
  Grid g;
  for (int a = 0; a < 3; ++a) {
    g.dims[a] = static_cast<std::int64_t>(size[a]);
    g.spacing_mm[a] = extent_mm[a] / size[a];
    g.origin_mm[a] = -0.5 * extent_mm[a] + 0.5 * g.spacing_mm[a];
  }
  return g;
}

igrt::RampWindow parse_window(const std::string& name) {
  if (name == "ram-lak") return igrt::RampWindow::kRamLak;
  if (name == "shepp-logan") return igrt::RampWindow::kSheppLogan;
  if (name == "hann") return igrt::RampWindow::kHann;
  throw InputError("--window", "'" + name + "' is not ram-lak, shepp-logan or hann");
}

/// What `linac igrt recon` was asked, checked before any projection is read.
struct ReconRequest {
  std::string dir, out, measured_out;
  formats::HndReadOptions hnd;
  igrt::FdkOptions fdk;
  int raw_columns = 0;
  int raw_rows = 0;
  std::vector<double> size, extent;  // empty: from the panel's field of view
  bool json = false;
};

/// --scatter-kernel, --mu-water-per-mm, --hnd-*, --raw-size, --size and --extent-mm checked.
void check_recon_options(ReconRequest& q, const std::string& scatter_text, double mu_water,
                         const std::string& raw_size_text, const std::string& size_text,
                         const std::string& extent_text) {
  if (!scatter_text.empty()) {
    const auto v = parse_numbers("--scatter-kernel", scatter_text, 2, "FRACTION,SIGMA_MM");
    if (!(v[0] >= 0.0 && v[0] <= 0.05) || !(v[1] > 0.0 && v[1] <= 1000.0)) {
      throw InputError("--scatter-kernel",
                       "FRACTION must lie in [0, 0.05] and SIGMA_MM in (0, 1000]");
    }
    q.fdk.scatter_fraction = v[0];
    q.fdk.scatter_sigma_mm = v[1];
  }
  if (!(mu_water > 0.0 && mu_water < 1.0)) {
    throw InputError("--mu-water-per-mm", format_number(mu_water) + " is outside (0, 1)");
  }
  q.fdk.mu_water_per_mm = mu_water;
  if (!(q.hnd.i0 > 1.0 && q.hnd.i0 <= 1e9)) {
    throw InputError("--hnd-i0", format_number(q.hnd.i0) + " counts is outside (1, 1e9]");
  }
  if (!(q.hnd.sid_mm > 0.0 && q.hnd.sid_mm <= 5000.0)) {
    throw InputError("--hnd-sid-mm", format_number(q.hnd.sid_mm) + " mm is outside (0, 5000]");
  }
  if (!raw_size_text.empty()) {
    const auto v = parse_numbers("--raw-size", raw_size_text, 2, "COLUMNS,ROWS");
    if (!(v[0] >= 1 && v[0] <= 8192 && v[1] >= 1 && v[1] <= 8192)) {
      throw InputError("--raw-size", "columns and rows must lie in 1-8192");
    }
    q.raw_columns = static_cast<int>(v[0]);
    q.raw_rows = static_cast<int>(v[1]);
  }
  if (!size_text.empty()) {
    q.size = parse_numbers("--size", size_text, 3, "NX,NY,NZ");
    for (const double n : q.size) {
      if (!(n >= 1 && n <= 2048 && n == std::floor(n))) {
        throw InputError("--size", "each of NX,NY,NZ must be a whole number in 1-2048");
      }
    }
  }
  if (!extent_text.empty()) {
    q.extent = parse_numbers("--extent-mm", extent_text, 3, "X,Y,Z in mm");
    for (const double e : q.extent) {
      if (!(e > 0.0 && e <= 2000.0)) throw InputError("--extent-mm", "each must lie in (0, 2000]");
    }
  }
}

/// The options parsed and checked; nullopt after --help.
std::optional<ReconRequest> parse_recon(const std::vector<std::string>& args) {
  po::options_description opts("options");
  ReconRequest q;
  std::string size_text, extent_text, raw_size_text, position_text, window_text, scatter_text;
  double mu_water = 0.0022;
  opts.add_options()("projections", po::value(&q.dir)->required(),
                     "folder of projections (plastimatch drr: .raw or .pfm with .txt geometry; "
                     "Varian OBI: .hnd)")("out", po::value(&q.out)->required(),
                                          "reconstructed CBCT (.mha, HU)")(
      "measured-out", po::value(&q.measured_out),
      "also write the voxels every projection measured (.mha mask, the CBCT's grid): for "
      "igrt register --moving-mask")("size", po::value(&size_text),
                                     "voxels NX,NY,NZ (default: 2 mm voxels over the extent)")(
      "extent-mm", po::value(&extent_text),
      "volume X,Y,Z in mm, centred on the isocentre (default: the panel's field of view)")(
      "raw-size", po::value(&raw_size_text),
      "COLUMNS,ROWS of .raw projections whose image centre does not give it")(
      "hnd-i0", po::value(&q.hnd.i0)->default_value(139000.0),
      ".hnd projections: unattenuated counts (line integral = ln(i0 / counts))")(
      "hnd-sid-mm", po::value(&q.hnd.sid_mm)->default_value(1500.0),
      ".hnd projections: source-to-imager distance when the header's dSFD does not give it")(
      "mu-water-per-mm", po::value(&mu_water)->default_value(0.0022),
      "water's line integral per mm in the projections (plastimatch drr: 0.0022; a kV scan's "
      "log-normalised counts: about 0.02)")(
      "position", po::value(&position_text)->default_value("HFS"),
      "patient position of the volume the projections were taken of (HFS, FFS, HFP, FFP)")(
      "window", po::value(&window_text)->default_value("hann"),
      "ramp filter apodisation: ram-lak, shepp-logan, hann")(
      "no-truncation-correction",
      "leave rows cut off by the panel as they are (default: continue them as a water "
      "cylinder's chords)")(
      "scatter-kernel", po::value(&scatter_text),
      "FRACTION,SIGMA_MM: take the imager's scatter kernel off the projections before the log "
      "(measured transmission = primary + FRACTION x Gaussian of SIGMA_MM at the panel of the "
      "attenuated part; the simulated Clinac's imager: 0.003,60); default: no correction");
  po::positional_options_description pos;
  pos.add("projections", 1);
  po::variables_map vm;
  if (!parse("igrt recon",
             "PROJECTION_DIR --out CBCT.mha [--size NX,NY,NZ] [--extent-mm X,Y,Z] "
             "[--raw-size C,R] [--hnd-i0 COUNTS] [--scatter-kernel F,SIGMA_MM] [--json]",
             opts, pos, args, vm)) {
    return std::nullopt;
  }
  q.json = vm.count("json") != 0;
  q.fdk.position = iec::parse_patient_position(position_text);
  q.fdk.window = parse_window(window_text);
  q.fdk.truncation_correction = vm.count("no-truncation-correction") == 0;
  check_recon_options(q, scatter_text, mu_water, raw_size_text, size_text, extent_text);
  return q;
}

/// The folder's projections (one format per set: Varian .hnd, or plastimatch .raw / .pfm) on
/// the circular orbit; `has_hnd` says which.
std::vector<hal::KvProjection> read_projection_set(const ReconRequest& q, bool& has_hnd) {
  has_hnd = false;
  bool has_other = false;
  if (fs::is_directory(q.dir)) {
    for (const auto& e : fs::directory_iterator(q.dir)) {
      const auto ext = e.path().extension();
      has_hnd = has_hnd || ext == ".hnd";
      has_other = has_other || ext == ".raw" || ext == ".pfm";
    }
  }
  if (has_hnd && has_other) {
    throw InputError(q.dir, ".hnd projections beside .raw or .pfm ones: one format per set");
  }
  auto files = has_hnd ? formats::read_varian_hnd_projections(q.dir, q.hnd)
                       : formats::read_plastimatch_projections(q.dir, q.raw_columns, q.raw_rows);
  return igrt::circular_projections(std::move(files), q.fdk.position);
}

nlohmann::json recon_json(const ReconRequest& q, const igrt::FdkResult& r,
                          const hal::KvProjection& p0, bool has_hnd, double read_s,
                          double total_s) {
  const Grid& g = q.fdk.grid;
  nlohmann::json j;
  j["out"] = q.out;
  if (!q.measured_out.empty()) j["measured_out"] = q.measured_out;
  j["projections"] = r.projections;
  j["arc_deg"] = r.arc_deg;
  j["half_fan"] = r.half_fan;
  j["short_scan"] = r.short_scan;
  j["truncation_correction"] = q.fdk.truncation_correction;
  j["scatter_kernel"] = {{"fraction", q.fdk.scatter_fraction},
                         {"sigma_mm", q.fdk.scatter_sigma_mm}};
  j["format"] = has_hnd ? "hnd" : "plastimatch";
  j["geometry"] = {{"sad_mm", p0.source_axis_distance_mm},
                   {"sid_mm", p0.source_imager_distance_mm},
                   {"pixel_pitch_mm", p0.pixel_pitch_mm},
                   {"panel_offset_mm", p0.detector_offset_mm},
                   {"columns", p0.columns},
                   {"rows", p0.rows}};
  j["grid"] = {{"dims", {g.dims[0], g.dims[1], g.dims[2]}},
               {"spacing_mm", {g.spacing_mm.x(), g.spacing_mm.y(), g.spacing_mm.z()}},
               {"origin_mm", {g.origin_mm.x(), g.origin_mm.y(), g.origin_mm.z()}}};
  j["seconds"] = {{"read", read_s},
                  {"reconstruct", r.seconds},
                  {"filter", r.filter_seconds},
                  {"back_project", r.back_project_seconds},
                  {"total", total_s}};
  return j;
}

}  // namespace

int cmd_igrt_recon(const std::vector<std::string>& args) {
  std::optional<ReconRequest> parsed = parse_recon(args);
  if (!parsed) return kOk;
  ReconRequest& q = *parsed;
  const auto t0 = std::chrono::steady_clock::now();
  // Large buffers come and go per projection: keep freed memory in the heap for reuse rather
  // than returning it to the system and faulting fresh pages in again.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1024 << 20);
  const auto read_t0 = std::chrono::steady_clock::now();
  bool has_hnd = false;
  const auto projections = read_projection_set(q, has_hnd);
  const double read_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - read_t0).count();
  if (q.extent.empty()) {
    const Grid fov = igrt::cbct_grid(projections.front(), 1.0, 1.0);
    for (int a = 0; a < 3; ++a) q.extent.push_back(static_cast<double>(fov.dims[a]));
  }
  if (q.size.empty()) {
    for (const double e : q.extent) q.size.push_back(std::max(1.0, std::round(e / 2.0)));
  }
  q.fdk.grid = centred_grid(q.size, q.extent);
  const igrt::FdkResult r = igrt::reconstruct_fdk(projections, q.fdk);
  write_metaimage(q.out, r.image, {false});  // uncompressed: written at disk speed
  if (!q.measured_out.empty()) write_metaimage(q.measured_out, r.measured, {true});
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (q.json) {
    std::cout << recon_json(q, r, projections.front(), has_hnd, read_s, total_s).dump(2) << "\n";
  } else {
    const Grid& g = q.fdk.grid;
    std::cout << "reconstructed " << r.projections << " projections over "
              << format_measured(r.arc_deg, 1) << " degrees ("
              << (r.half_fan ? "half fan" : "full fan") << (r.short_scan ? ", short scan" : "")
              << ") into " << g.dims[0] << " x " << g.dims[1] << " x " << g.dims[2]
              << " voxels: " << q.out << " (" << format_measured(total_s, 2) << " s)\n";
  }
  return kOk;
}

}  // namespace linac::cli
