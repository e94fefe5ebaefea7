// linac: the command line of the linac delivery and IGRT software.
#include <google/protobuf/stubs/common.h>
#include <malloc.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>

#include "cli.hpp"
#include "linac/core/error.hpp"

#ifndef LINAC_VERSION
#define LINAC_VERSION "0.0.0"
#endif

namespace {

using linac::cli::Command;

/// Image volumes of a few MB each are made and dropped many times per command (registration
/// pyramids, reconstruction buffers), and on a virtual machine every fresh 4 kB page costs a
/// fault (they were a fifth to a third of `igrt register` and `igrt recon`). So: blocks up to
/// 256 MB come from the heap and freed ones stay there for reuse (the footprint is the command's
/// peak); the heap is grown once by 192 MB, untouched, and advised into transparent huge pages,
/// so that the kernel faults it in 2 MB at a time. Where the kernel offers no huge pages the
/// advice is ignored.
void keep_memory_for_reuse_in_huge_pages() {
  constexpr std::size_t kHeap = std::size_t{192} << 20;
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  if (void* heap = std::malloc(kHeap); heap != nullptr) {
    constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
    const auto at = reinterpret_cast<std::uintptr_t>(heap);
    const std::uintptr_t begin = (at + kHuge - 1) & ~(kHuge - 1);
    const std::uintptr_t end = (at + kHeap) & ~(kHuge - 1);
    if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    std::free(heap);
  }
}

// Errors print as one line whatever the library wrote.
std::string one_line(std::string s) {
  for (auto& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"course", "the treatment course: planning, then per fraction CBCT set-up, delivery, QA",
       linac::cli::cmd_course},
      {"case make", "write the built-in patient as a case folder", linac::cli::cmd_case_make},
      {"case export", "write a case folder as DICOM: CT series and RT Structure Set",
       linac::cli::cmd_case_export},
      {"case import", "read a patient's DICOM CT series and RT Structure Set into a case folder",
       linac::cli::cmd_case_import},
      {"info", "grid and structure volumes of a case, an image, or the built-in patient",
       linac::cli::cmd_info},
      {"convert", "convert a plan file between JSON and binary Protobuf", linac::cli::cmd_convert},
      {"sim", "run the simulated Clinac iX as a daemon over ZeroMQ (CurveZMQ)",
       linac::cli::cmd_sim},
      {"sim keygen", "make a CurveZMQ key pair for the machine link", linac::cli::cmd_sim_keygen},
      {"validate", "check a plan against the machine profile (exit 3: not deliverable)",
       linac::cli::cmd_validate},
      {"deliver", "deliver a plan on the simulated Clinac or through the machine link",
       linac::cli::cmd_deliver},
      {"plan structures",
       "4DCT and AIP, SPECT/CT fusion, functional liver (FLS), ITV and PTV as a case folder",
       linac::cli::cmd_plan_structures},
      {"plan optimize",
       "double-arc VMAT sparing the functional liver, its baseline, dose, DVH and figures",
       linac::cli::cmd_plan_optimize},
      {"igrt setup", "one fraction's CBCT set-up: acquire, reconstruct, register, move the couch",
       linac::cli::cmd_igrt_setup},
      {"igrt recon", "cone-beam CT (FDK) from another tool's projection files (plastimatch drr)",
       linac::cli::cmd_igrt_recon},
      {"igrt register", "rigid registration of two images and the couch correction",
       linac::cli::cmd_igrt_register},
      {"dose water", "the dose engine in water: PDD, profile, penumbra, output factor",
       linac::cli::cmd_dose_water},
      {"dose commission", "fit the beam model to a beam data set (JSON, CSV, PTW mcc); report",
       linac::cli::cmd_dose_commission},
      {"qa", "delivery QA from Dynalog or trajectory logs: leaf errors, fluence, gamma",
       linac::cli::cmd_qa},
      {"replay",
       "deliver a recorded log's sequence again on the simulator; simulated beside recorded",
       linac::cli::cmd_replay},
  };
  return kCommands;
}

void print_help() {
  std::cout << "usage: linac <command> [options]\n"
               "       linac <command> --help\n"
               "       linac --version\n\n"
               "Linac delivery and IGRT software for a Clinac iX-class machine.\n\ncommands:\n";
  for (const auto& c : commands()) std::printf("  %-12s %s\n", c.name.c_str(), c.summary.c_str());
  std::cout << "\nexit codes: 0 ok, 2 bad input, 1 internal error, 3 plan not deliverable,\n"
               "            4 delivery not completed (interrupted, terminated or refused)\n";
}

}  // namespace

int main(int argc, char** argv) {
  keep_memory_for_reuse_in_huge_pages();
  const std::vector<std::string> all(argv + 1, argv + argc);
  if (all.empty() || all[0] == "--help" || all[0] == "-h" || all[0] == "help") {
    print_help();
    return all.empty() ? linac::cli::kBadInput : linac::cli::kOk;
  }
  if (all[0] == "--version") {
    std::cout << "linac " << LINAC_VERSION << "\n";
    return linac::cli::kOk;
  }
  const Command* chosen = nullptr;
  std::size_t used = 0;
  for (const auto& c : commands()) {
    // A command name is one or two words ("info", "case make").
    const auto space = c.name.find(' ');
    if (space == std::string::npos) {
      if (all[0] == c.name) chosen = &c, used = 1;
    } else if (all.size() >= 2 && all[0] == c.name.substr(0, space) &&
               all[1] == c.name.substr(space + 1)) {
      chosen = &c, used = 2;
    }
  }
  if (chosen == nullptr) {
    std::cerr << "linac: unknown command '" << all[0] << (all.size() > 1 ? " " + all[1] : "")
              << "'; see 'linac --help'\n";
    return linac::cli::kBadInput;
  }
  const std::vector<std::string> args(all.begin() + static_cast<std::ptrdiff_t>(used), all.end());
  try {
    return chosen->run(args);
  } catch (const linac::InputError& e) {
    std::cerr << "linac " << chosen->name << ": error: " << one_line(e.what()) << "\n";
    return linac::cli::kBadInput;
  } catch (const boost::program_options::error& e) {
    std::cerr << "linac " << chosen->name << ": error: " << one_line(e.what()) << " (see 'linac "
              << chosen->name << " --help')\n";
    return linac::cli::kBadInput;
  } catch (const std::exception& e) {
    std::cerr << "linac " << chosen->name << ": internal error: " << one_line(e.what()) << "\n";
    return linac::cli::kInternalError;
  }
}
