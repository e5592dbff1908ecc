// Moved to io/file_io.h (the one module that touches output paths). This
// forwarding header keeps not-yet-updated includers building; delete it once
// nothing includes it.
#ifndef LNBENCH_REPORT_FILE_IO_H_
#define LNBENCH_REPORT_FILE_IO_H_

#include "io/file_io.h"

#endif  // LNBENCH_REPORT_FILE_IO_H_
