#pragma once
// Helpers for writing DICOM objects with DCMTK (formats/src only).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace linac::formats::detail {

/// A DICOM DS value (at most 16 characters) with `digits` significant digits.
inline std::string ds(double v, int digits = 8) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

/// Sets `tag` in `item`; throws std::runtime_error naming the attribute when DCMTK refuses.
inline void put(DcmItem* item, const DcmTagKey& tag, const std::string& value) {
  if (item->putAndInsertString(tag, value.c_str()).bad()) {
    throw std::runtime_error(std::string("DICOM: cannot set ") + DcmTag(tag).getTagName());
  }
}

/// Appends an item to the sequence `sequence` of `parent` (created when absent).
inline DcmItem* new_item(DcmItem* parent, const DcmTagKey& sequence) {
  DcmItem* item = nullptr;
  if (parent->findOrCreateSequenceItem(sequence, item, -2).bad() || item == nullptr) {
    throw std::runtime_error(std::string("DICOM: cannot add to ") + DcmTag(sequence).getTagName());
  }
  return item;
}

}  // namespace linac::formats::detail
