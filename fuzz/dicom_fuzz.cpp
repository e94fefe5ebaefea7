// libFuzzer target: arbitrary bytes as a DICOM file given to every DICOM reader an outside file
// reaches — RT Plan, RT Dose, a CT slice (the case importer's series reader), an NM (SPECT)
// volume and the RT Plan reference of a treatment record. Each must read it or refuse it with
// InputError; anything else (a crash, another exception, a leak) is a finding. Seed corpus: real
// files (pydicom's test files, the product's own RP / RD / RT record).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "linac/core/error.hpp"
#include "linac/formats/dicom_import.hpp"
#include "linac/formats/dicom_rtdose.hpp"
#include "linac/formats/dicom_rtplan.hpp"
#include "linac/formats/dicom_rtrecord.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("linac_dicom_fuzz_" + std::to_string(::getpid()) + ".dcm");
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    (void)linac::read_dicom_rtplan(path);
  } catch (const linac::InputError&) {
  }
  try {
    (void)linac::read_dicom_rtdose(path);
  } catch (const linac::InputError&) {
  }
  try {
    (void)linac::formats::read_ct_series({path});
  } catch (const linac::InputError&) {
  }
  try {
    (void)linac::formats::read_nm_volume({path});
  } catch (const linac::InputError&) {
  }
  try {
    linac::formats::RtRecordInfo info;
    linac::formats::refer_to_rtplan(path, info);
  } catch (const linac::InputError&) {
  }
  return 0;
}
