// RocksDB's errors as kpipe says them, naming the --state directory.
// Defined in store.cc; shared with partition_copy.cc.
#pragma once

#include <string>

#include "kpipe/status.h"

namespace rocksdb {
class Status;
}

namespace kpipe::state {

// OK, or an I/O error naming `dir`.
Status RocksError(const rocksdb::Status& s, const std::string& dir);
// DB::Open's: a directory another process has open says so, with that
// process's pid when it can be told.
Status RocksOpenError(const rocksdb::Status& s, const std::string& dir);

}  // namespace kpipe::state
