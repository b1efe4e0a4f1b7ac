// A fresh directory name for a test's state, removed (with what the test
// put there) when the object goes. The directory itself is not created.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace kpipe::testing {

struct TempDir {
  std::string path;
  TempDir() {
    path = (std::filesystem::temp_directory_path() /
            ("kpipe-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
               .string();
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  static inline int counter = 0;
};

}  // namespace kpipe::testing
