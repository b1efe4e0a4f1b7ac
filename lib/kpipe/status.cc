#include "kpipe/status.h"

namespace kpipe {

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->msg : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return state_->msg;
}

}  // namespace kpipe
