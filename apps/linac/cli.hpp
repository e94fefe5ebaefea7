#pragma once
// Shared pieces of the `linac` command line: command table, option parsing, output helpers.
#include <boost/program_options.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "linac/core/transform.hpp"
#include "linac/formats/case_folder.hpp"
#include "linac/formats/dicom_import.hpp"

namespace linac::cli {

namespace po = boost::program_options;

enum ExitCode : int {
  kOk = 0,
  kInternalError = 1,
  kBadInput = 2,
  kNotDeliverable = 3,
  kNotCompleted = 4,
  kQaFailed = 5  // a log out of the site's tolerances (linac qa)
};

struct Command {
  std::string name;     // e.g. "case make"
  std::string summary;  // one line for `linac --help`
  std::function<int(const std::vector<std::string>& args)> run;
};

/// Parses `args` against `options` (plus --help and --json) and positional names.
/// Returns false when --help was given (help already printed).
bool parse(const std::string& command, const std::string& usage, po::options_description& options,
           const po::positional_options_description& positional,
           const std::vector<std::string>& args, po::variables_map& vm);

/// `count` comma-separated numbers ("1,2.5,3"); throws InputError naming `option` and `what`
/// was expected.
std::vector<double> parse_numbers(const std::string& option, const std::string& text,
                                  std::size_t count, const std::string& what);
/// "tx,ty,tz,rx,ry,rz": a set-up error in DICOM patient coordinates, mm and degrees (rotations
/// about the isocentre, x then y then z). Throws InputError naming `option`.
RigidTransform parse_setup_error(const std::string& option, const std::string& text);

/// Every structure of a case with its voxel count and volume; the grid of its CT.
nlohmann::json case_summary_json(const Case& c);
/// A case folder (case.json), or a folder of DICOM files imported as a case (CT series and the
/// RT Structure Set on it): what every command's --case accepts.
Case load_case_or_dicom(const std::filesystem::path& dir);

/// Where a case folder keeps its SPECT/CT (spect.mha, ct.mha: each on its own grid, in the
/// SPECT/CT scanner's frame), as `case import` and `plan structures` write it.
inline constexpr const char* kSpectCtFolder = "spect_ct";

/// A case and the SPECT/CT that came with it (from the DICOM folder's NM series and its CT, or
/// the case folder's spect_ct/), if any.
struct CaseWithSpectCt {
  Case patient;
  std::optional<formats::SpectCtImport> spect_ct;
  std::string spect_ct_source;  // "DICOM DIR", "CASE/spect_ct", or empty
};
CaseWithSpectCt load_case_with_spect_ct(const std::filesystem::path& dir);
void print_case_summary(const Case& c);

int cmd_case_make(const std::vector<std::string>& args);
int cmd_case_export(const std::vector<std::string>& args);
int cmd_case_import(const std::vector<std::string>& args);
int cmd_info(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
int cmd_sim(const std::vector<std::string>& args);
int cmd_validate(const std::vector<std::string>& args);
int cmd_deliver(const std::vector<std::string>& args);
int cmd_qa(const std::vector<std::string>& args);
int cmd_replay(const std::vector<std::string>& args);
int cmd_plan_structures(const std::vector<std::string>& args);
int cmd_igrt_setup(const std::vector<std::string>& args);
int cmd_igrt_recon(const std::vector<std::string>& args);
int cmd_igrt_register(const std::vector<std::string>& args);
int cmd_sim_keygen(const std::vector<std::string>& args);
int cmd_course(const std::vector<std::string>& args);
int cmd_plan_optimize(const std::vector<std::string>& args);
int cmd_dose_water(const std::vector<std::string>& args);
int cmd_dose_commission(const std::vector<std::string>& args);

}  // namespace linac::cli
